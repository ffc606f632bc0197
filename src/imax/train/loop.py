"""The training loop: LoRA fine-tuning of the LLaVA composition with Accelerate, top to bottom.

Vision tower frozen, projector trained in full, LoRA (PEFT) on the language model; AdamW; linear warm-up
+ cosine decay; gradient accumulation; loss on answer tokens only (labels from the collator).

The same command runs everywhere:

* one process (CPU or GPU)::

      imax train --data DIR --out RUN

* DDP on the CPU (gloo) — ``torchrun``, not ``accelerate launch --cpu`` (that silently starts ONE
  process; see machine-notes)::

      torchrun --standalone --nproc_per_node=2 -m imax.cli train --data DIR --out RUN

* GPUs, bf16 autocast, DDP / FSDP / DeepSpeed ZeRO-2 / ZeRO-3 with the shipped accelerate configs::

      accelerate launch --config_file configs/accelerate/ddp_bf16.yaml -m imax.cli train ... --mixed-precision bf16
      accelerate launch --config_file configs/accelerate/fsdp_bf16.yaml -m imax.cli train ...
      accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml -m imax.cli train ...

  (FSDP / DeepSpeed shard the optimizer state: every save gathers the full weights
  (:func:`gathered_state`), the optimizer state is not written and such checkpoints are marked not
  resumable. Every run ends with :func:`verify_saved`: the saved weights moved and the adapter holds them.)

Base weights load in ``--dtype`` (auto: float32 on the CPU, the checkpoint's own dtype on a GPU); LoRA
weights stay float32 (PEFT). ``--gradient-checkpointing`` recomputes decoder activations in the backward.

Loss normalisation (why DDP == one process): the objective of an optimizer step is the mean over ALL
answer tokens of its ``batch_size * grad_accum`` samples. Each rank counts its answer tokens, the counts
are summed across ranks before the backward, and each rank backpropagates ``sum(its token losses) *
world / total_tokens``; DDP averages gradients over ``world`` ranks, which leaves exactly the gradient
of the global token mean. (A per-rank mean averaged over ranks would weight a rank's tokens by how many
answer tokens the OTHER rank happened to get.) Per-rank batches are contiguous slices of one global
micro-batch (see :mod:`imax.train.sampler`), so the data of every step is the same for any world size.
With ``loss_average="sample"`` the same holds with entries for tokens: each entry contributes the mean
of its own answer-token losses, and the units counted across ranks are the entries that have an answer.

The pieces live by job: :mod:`imax.train.assemble` (base, optimizer, sharding), :mod:`imax.train.step`
(answer-token losses) and :mod:`imax.train.bookkeeping` (interval counters, checkpoints, artifacts); this
module is the loop itself and re-exports their names.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, set_seed
from torch.utils.data import DataLoader

from imax.data import ImageCache, ModelInterface, TrainCollator, load_entries
from imax.model import (
    apply_lora,
    check_lora_targets,
    check_trainable,
    load_base,
    load_processor,
    meta_model,
    num_image_tokens,
    settings_of,
)
from imax.model.vision_cache import build_vision_cache
from imax.schema.config.train import TrainConfig
from imax.schema.errors import ImaxError, MissingPathError
from imax.tasks import task_names
from imax.train import checkpoint as ckpt
from imax.train.assemble import (
    build_optimizer,
    check_init_from,
    configure_sharding,
    init_trainable,
    layer_classes,
    resolve_base,
)
from imax.train.bookkeeping import (
    ARTIFACTS,
    FISHER_NAMES,
    IntervalStats,
    fisher_steps,
    gathered_state,
    save_checkpoint,
    truncate_log,
    verify_saved,
    write_artifacts,
)
from imax.train.logging import RunLogger
from imax.train.sampler import StreamSampler, budget_conflict, total_steps, valid_temperature
from imax.train.schedule import lr_at, warmup_steps
from imax.train.step import (
    IGNORE,
    answer_losses,
    answer_positions,
    evaluate_loss,
    loss_units,
    per_row_sums,
    token_losses,
    weighted_sum,
)


@dataclass
class TrainResult:
    """What a finished run left behind."""

    out: Path
    """The run directory."""
    final: Path
    """The final checkpoint (``OUT/checkpoints/final``): adapter/ (lora) or model/ (full), artifacts."""
    steps: int
    """Optimizer steps of the whole run."""
    final_loss: float
    """Training loss (answer-token mean) of the last logged interval."""
    losses: list[float] = field(default_factory=list)
    """Logged training losses of this invocation (one per log interval)."""
    seconds: float = 0.0
    """Wall time of this invocation's loop."""


# ---- the loop ------------------------------------------------------------------------------------------
def entry_lengths(entries: list[dict[str, Any]]) -> np.ndarray:
    """(N,) characters of each entry's instruction + response: what its tokenised length grows with (the
    image tokens are the same for every entry), for :class:`StreamSampler`'s length grouping."""
    return np.array([len(e["instruction"]) + len(e["response"]) for e in entries], dtype=np.int64)


def entry_tasks(entries: list[dict[str, Any]]) -> np.ndarray:
    """(N,) index of each entry's task in :func:`imax.tasks.task_names`, for the sampler's task mixing."""
    index = {name: i for i, name in enumerate(task_names())}
    return np.array([index[e["task"]] for e in entries], dtype=np.int64)


def _only_tasks(entries: list[dict[str, Any]], tasks: tuple[str, ...], where: str,
                require: bool = True) -> list[dict[str, Any]]:
    """The ``entries`` of ``tasks`` (all of them when empty), in order (``TrainConfig.tasks``). A task name
    that is not registered is an error, and so (``require``) is one with no entry in ``entries`` (``where``
    names the file and split)."""
    if not tasks:
        return entries
    unknown = sorted(set(tasks) - set(task_names()))
    if unknown:
        raise ImaxError(f"unknown task(s) {unknown}; registered: {list(task_names())}")
    present = {e["task"] for e in entries}
    absent = [t for t in tasks if t not in present]
    if absent and require:
        raise ImaxError(f"{where}: no entries of task(s) {absent} (it has {sorted(present)})")
    keep = set(tasks)
    return [e for e in entries if e["task"] in keep]


def train(cfg: TrainConfig) -> TrainResult:
    """Fine-tune ``cfg.base`` (or the tiny base) on ``cfg.data``'s train split; see the module docstring."""
    # find_unused_parameters only for a full fine-tune: CLIP's post_layernorm gets no gradient there (LLaVA
    # reads the pre-norm hidden state); under LoRA every trainable parameter is used, so skip the search.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=cfg.finetune == "full" and not cfg.freeze_vision)
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=cfg.mixed_precision,
                              kwargs_handlers=[ddp])
    rank, world, is_main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    device = accelerator.device
    cfg.out = Path(cfg.out)
    if not cfg.lr >= 0 or (cfg.projector_lr is not None and not cfg.projector_lr >= 0):
        # before any loading: a negative rate would train uphill without a word (AdamW only checks the default)
        raise ImaxError(f"learning rates must be >= 0: got lr={cfg.lr}, projector_lr={cfg.projector_lr}")
    if cfg.lora_plus_ratio is not None and not cfg.lora_plus_ratio > 0:
        raise ImaxError(f"lora_plus_ratio must be > 0 (or None for one rate): got {cfg.lora_plus_ratio}")
    if not valid_temperature(cfg.task_temperature):  # the sampler's own rule, said before anything loads
        raise ImaxError(f"task_temperature must be a finite number > 0 (1: tasks mix in proportion to their volume): "
                        f"got {cfg.task_temperature}")
    if cfg.length_group < 1:  # 0 or negative used to fall back to 1 (off) silently
        raise ImaxError(f"length_group must be >= 1 (1: off; N: sort each N micro-batches by length): "
                        f"got {cfg.length_group}")
    manifest_path = Path(cfg.data) / "manifest.json"
    if not manifest_path.is_file():
        raise MissingPathError(f"{cfg.data}: not a built dataset (no manifest.json); run `imax build` first")
    manifest = ckpt.read_json(manifest_path)
    latest = ckpt.latest_checkpoint(cfg.out)
    if latest is not None and not cfg.resume:
        raise ImaxError(f"{cfg.out} already holds checkpoints; pass --resume or choose another --out")
    if is_main:
        cfg.out.mkdir(parents=True, exist_ok=True)

    # -- data: every rank reads the whole split; the sampler decides who takes what.
    entries = _only_tasks(load_entries(cfg.data, "train"), cfg.tasks, f"{cfg.data / 'entries.parquet'} (train)")
    val_entries = (_only_tasks(load_entries(cfg.data, "val"), cfg.tasks, "val", require=False)[: cfg.eval_samples]
                   if cfg.eval_every_steps else [])
    n = len(entries)
    total = total_steps(n, epochs=cfg.epochs, batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
                        max_steps=cfg.max_steps)
    # both budgets given and the epochs end first: said now, not discovered after the run
    budget_note = budget_conflict(n, epochs=cfg.epochs, batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
                                  max_steps=cfg.max_steps)
    if budget_note is not None and is_main:
        print(f"imax train: {budget_note}", file=sys.stderr, flush=True)
    warmup = warmup_steps(total, cfg.warmup_ratio)

    # -- model: base (frozen) + LoRA on the LM + trainable projector. Same seed on every rank.
    base_dir, base_info = resolve_base(cfg, entries, accelerator)
    # Everything the user pointed at is checked before the (possibly multi-GB) base loads.
    if cfg.finetune == "lora":
        check_lora_targets(meta_model(base_dir), cfg.model.lora.target_regex)
    if cfg.init_from is not None:
        check_init_from(Path(cfg.init_from), cfg.finetune)
    resume_state = ckpt.check_resumable(latest, rank) if cfg.resume and latest is not None else None
    if resume_state is not None and (resume_state["world"] != world or resume_state["total_steps"] != total):
        raise ImaxError(f"{latest}: saved with world={resume_state['world']}, total_steps="
                        f"{resume_state['total_steps']}; now world={world}, total_steps={total} (same config and "
                        "process count needed)")
    set_seed(cfg.seed)
    model, tokenizer = load_base(base_dir, dtype=cfg.dtype, device=device)
    # The checkpoint's own processor defines the inputs: chat template, image token count, pixels.
    processor = load_processor(base_dir, model)
    interface = ModelInterface.from_processor(processor, num_image_tokens(model))
    if cfg.base is not None:  # config.yaml records the loaded model's real settings, not the tiny defaults
        cfg.model = settings_of(model, tokenizer, cfg.model)
    if cfg.max_length <= 0:  # auto: the longest train/val sequence, so nothing is ever cut
        cfg.max_length = interface.sequence_length(entries + val_entries)
    limit = getattr(model.config.text_config, "max_position_embeddings", None)
    if limit is not None and cfg.max_length > limit:
        raise ImaxError(f"max_length {cfg.max_length} exceeds the language model's max_position_embeddings {limit}")
    if is_main:
        write_artifacts(cfg, manifest, base_info, interface)
    if cfg.gradient_checkpointing:
        # Non-reentrant: works with frozen embeddings (no input-requires-grad hook) and replays dropout.
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if cfg.finetune == "lora":
        model = apply_lora(model, cfg.model.lora)  # checks the target regex and the trainable set
        check_trainable(model, cfg.model.lora.modules_to_save)
    else:
        model.requires_grad_(True)
        if cfg.freeze_vision:
            model.model.vision_tower.requires_grad_(False)
    if cfg.init_from is not None:
        init_trainable(model, Path(cfg.init_from), cfg.finetune)
    optimizer, names = build_optimizer(model, cfg)
    # Before prepare: ZeRO-3 / FSDP replace the live tensors by shards afterwards.
    initial = ckpt.fingerprint(ckpt.trainable_state(model)) if is_main else {}
    params = [p for p in model.parameters() if p.requires_grad]
    configure_sharding(accelerator, model, cfg)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()

    # -- resume: weights, optimizer, position; RNG last (nothing may draw from it after this).
    start_step = 0
    if resume_state is not None:
        state = resume_state
        ckpt.load_trainable(accelerator.unwrap_model(model), latest / "trainable.safetensors")
        ckpt.load_optimizer(optimizer, latest, names)
        start_step = int(state["step"])
    if is_main:  # records past the resumed step (or of a run that died before its first checkpoint) go
        truncate_log(cfg.out, start_step)

    # Seven tasks share an image: decode + resize each image once per process.
    collator = TrainCollator(interface, manifest["data_root"], cfg.max_length, cache=ImageCache())
    sampler = StreamSampler(n, seed=cfg.seed, batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
                            total_steps=total, start_step=start_step, rank=rank, world=world,
                            lengths=entry_lengths(entries), group=cfg.length_group,
                            groups=entry_tasks(entries), temperature=cfg.task_temperature)
    # A private generator: creating the iterator must not draw from the global torch RNG (dropout).
    loader = DataLoader(entries, batch_sampler=sampler, collate_fn=collator, num_workers=cfg.num_workers,
                        generator=torch.Generator().manual_seed(cfg.seed))
    val_loader = DataLoader(val_entries[rank::world], batch_size=max(1, cfg.batch_size // world),
                            collate_fn=collator) if val_entries else None
    batches: Iterator[dict[str, Any]] = iter(loader)
    # Frozen-tower features of every train image, encoded once (None: every batch runs the tower).
    vision_cache, no_cache_reason = build_vision_cache(
        accelerator.unwrap_model(model), entries, collator.pixels, chunk=cfg.batch_size,
        budget_gb=cfg.vision_cache_gb, device=device, autocast=accelerator.autocast)
    if cfg.resume and latest is not None:
        ckpt.load_rng(latest, rank)

    def state_at(step: int) -> dict[str, Any]:
        seen = step * cfg.batch_size * cfg.grad_accum
        return {"step": step, "total_steps": total, "epoch": seen // n, "step_in_epoch": (seen % n) // (
            cfg.batch_size * cfg.grad_accum), "samples_seen": seen, "sampler_seed": cfg.seed, "world": world,
            "next_lr": lr_at(step, lr=cfg.lr, total=total, warmup=warmup, min_lr=cfg.lr * cfg.min_lr_ratio)}

    def save(name: str, step: int) -> Path:
        return save_checkpoint(name, cfg=cfg, accelerator=accelerator, model=model, optimizer=optimizer,
                               names=names, state=state_at(step), tokenizer=tokenizer, processor=processor)

    fisher = fisher_steps(cfg.fisher_fractions, total)
    root = ckpt.checkpoint_root(cfg.out)
    deepspeed = accelerator.distributed_type == DistributedType.DEEPSPEED
    if start_step == 0:
        for name in fisher.get(0, []):
            save(f"fisher-{name}", 0)

    logger = RunLogger(cfg.out, total=total, initial=start_step, enabled=is_main, progress=cfg.progress)
    logger.log({"step": start_step, "vision_cache": vision_cache.summary() if vision_cache is not None
                else {"off": no_cache_reason},
                "budget": {"total_steps": total, "epochs": cfg.epochs, "max_steps": cfg.max_steps,
                           "train_entries": n, "note": budget_note}})
    stats = IntervalStats.zeros(device)  # this rank's sums over the current logging interval
    losses: list[float] = []
    t_start = t_last = time.perf_counter()
    last_loss = math.nan

    for step in range(start_step, total):
        lr = lr_at(step, lr=cfg.lr, total=total, warmup=warmup, min_lr=cfg.lr * cfg.min_lr_ratio)
        for group in optimizer.param_groups:  # the same schedule, each group from its own peak
            peak = group.get("peak_lr", cfg.lr)  # checkpoints from before per-group peaks: one rate
            group["lr"] = lr if peak == cfg.lr else lr_at(step, lr=peak, total=total, warmup=warmup,
                                                           min_lr=peak * cfg.min_lr_ratio)

        # Fetch the whole step first: the loss denominator counts the answer tokens (or answered entries, with
        # loss_average "sample") of all its micro-batches.
        micro = [next(batches) for _ in range(cfg.grad_accum)]
        n_local = sum(int(loss_units(b["labels"], cfg.loss_average)) for b in micro)
        n_global = accelerator.reduce(torch.tensor(n_local, device=device, dtype=torch.float64), "sum")
        denom = float(n_global.clamp(min=1))

        for i, batch in enumerate(micro):
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            # Gradients are all-reduced only on the last micro-batch of the step.
            last = i == len(micro) - 1
            sync = contextlib.nullcontext() if last else accelerator.no_sync(model)
            if deepspeed:  # DeepSpeed steps inside backward at a boundary: mark only the last micro-batch
                accelerator.gradient_state._set_sync_gradients(last)
            with sync:
                features = vision_cache.lookup(batch["image"]) if vision_cache is not None else None
                tok, rows = answer_losses(model, batch, accelerator.autocast, features)
                # * world: DDP averages gradients over ranks; we want the sum over ranks / global tokens.
                accelerator.backward(weighted_sum(tok, rows, cfg.loss_average) * world / denom)
            with torch.no_grad():  # logging statistics, from the same forward
                per_sample, counts = per_row_sums(tok, rows, len(batch["task"]))
                stats.add(per_sample, counts, batch["attention_mask"], batch["task"])

        grad_norm = None
        if cfg.max_grad_norm > 0 and not deepspeed:  # DeepSpeed clips by its own gradient_clipping
            grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        logger.advance()

        # -- logging (all ranks reduce; rank 0 writes)
        if done % max(1, cfg.log_every_steps) == 0 or done == total:
            g = stats.reduced(accelerator)
            now = time.perf_counter()
            dt = max(now - t_last, 1e-9)
            last_loss = float(g.loss_sum / g.answer_tokens.clamp(min=1))
            losses.append(last_loss)
            per_task = {name: float(g.task_loss[j] / g.task_samples[j]) for j, name in enumerate(task_names())
                        if g.task_samples[j] > 0}
            record = {"step": done, "epoch": done * cfg.batch_size * cfg.grad_accum / n, "loss": last_loss,
                      "task_loss": per_task, "lr": lr, "samples_per_s": float(g.samples) / dt,
                      "tokens_per_s": float(g.tokens) / dt, "answer_tokens": int(g.answer_tokens),
                      "elapsed_s": now - t_start}
            if grad_norm is not None:
                record["grad_norm"] = float(grad_norm)
            logger.log(record)
            stats.reset()
            t_last = now
        if val_loader is not None and (done % cfg.eval_every_steps == 0 or done == total):
            logger.log({"step": done, "val_loss": evaluate_loss(accelerator.unwrap_model(model), val_loader,
                                                                accelerator)})

        # -- checkpoints: every N steps, at epoch ends, at the Fisher fractions, at the end
        per_step = cfg.batch_size * cfg.grad_accum
        epoch_end = (done * per_step) // n > (step * per_step) // n
        if (cfg.save_every_steps and done % cfg.save_every_steps == 0) or epoch_end or done == total:
            save(f"step-{done:06d}", done)
        for name in fisher.get(done, []):
            if not (root / f"fisher-{name}").exists():
                save(f"fisher-{name}", done)

    final = save("final", total) if start_step < total or not (root / "final").exists() else root / "final"
    if is_main and total > start_step:
        verify_saved(final, initial, cfg.finetune, expect_change=cfg.lr > 0)  # the weights trained and the adapter holds them
    logger.close()
    return TrainResult(out=cfg.out, final=final, steps=total, final_loss=last_loss, losses=losses,
                       seconds=time.perf_counter() - t_start)


__all__ = [
    "ARTIFACTS",
    "FISHER_NAMES",
    "IGNORE",
    "IntervalStats",
    "TrainResult",
    "answer_losses",
    "answer_positions",
    "build_optimizer",
    "check_init_from",
    "configure_sharding",
    "evaluate_loss",
    "fisher_steps",
    "gathered_state",
    "init_trainable",
    "layer_classes",
    "per_row_sums",
    "resolve_base",
    "save_checkpoint",
    "token_losses",
    "train",
    "verify_saved",
    "write_artifacts",
]
