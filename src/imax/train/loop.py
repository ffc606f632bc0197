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
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, set_seed
from torch.utils.data import DataLoader

from imax.data import ImageCache, ModelInterface, TrainCollator, load_entries
from imax.model import (
    apply_lora,
    build_model,
    check_lora_targets,
    check_trainable,
    checkpoint_kind,
    image_inputs,
    load_base,
    load_processor,
    locate_model,
    meta_model,
    num_image_tokens,
    save_base,
    settings_of,
    train_tokenizer,
)
from imax.model.build import check_safetensors
from imax.model.vision_cache import build_vision_cache
from imax.schema.config import config_hash, save_yaml
from imax.schema.config.train import TrainConfig
from imax.schema.errors import ImaxError, MissingPathError
from imax.schema.records import TASK_NAMES
from imax.train import checkpoint as ckpt
from imax.train.logging import RunLogger
from imax.train.sampler import StreamSampler, budget_conflict, total_steps
from imax.train.schedule import lr_at, warmup_steps

IGNORE = -100
ARTIFACTS = ("config.yaml", "tasks.json", "data_manifest.json", "base.json", "interface.json")
FISHER_NAMES = ("initial", "early", "mid", "late")


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


# ---- pieces the loop calls ---------------------------------------------------------------------------
def fisher_steps(fractions: tuple[float, ...], total: int) -> dict[int, list[str]]:
    """Optimizer step → names of the Fisher checkpoints written there.

    Names are initial/early/mid/late when four fractions are given (else ``f<fraction>``). Each point
    lands on its own step when the run is long enough (a later fraction is pushed one step past the
    previous one), so a short run still gets every named checkpoint.
    """
    names = list(FISHER_NAMES) if len(fractions) == len(FISHER_NAMES) else [f"f{f:g}" for f in fractions]
    out: dict[int, list[str]] = {}
    prev = -1
    for name, f in sorted(zip(names, fractions, strict=True), key=lambda p: p[1]):
        step = min(total, max(round(f * total), prev + 1))
        out.setdefault(step, []).append(name)
        prev = step
    return out


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token cross-entropy per position.

    Args:
        logits: ``(B, L, V)``; position t predicts token t+1.
        labels: ``(B, L)`` token ids, ``-100`` where no loss is taken (prompt, image, padding).
    Returns:
        ``(losses, mask)``, both ``(B, L-1)``: losses are 0 where mask is False.
    """
    b, length, vocab = logits.shape
    labels = labels[:, 1:]
    mask = labels != IGNORE
    # Rows of (B*(L-1), V): the contiguous layout cross_entropy is fastest on (a (B, V, L) transpose is not).
    flat = logits[:, :-1].reshape(-1, vocab).float()
    losses = F.cross_entropy(flat, labels.masked_fill(~mask, 0).reshape(-1), reduction="none")
    return losses.view(b, length - 1) * mask, mask


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """Positions whose next token is an answer token: bool ``(B, L)`` (position t predicts t + 1).

    Only these positions need logits for the loss: prompt, image and pad positions never do, so the
    LM head (``hidden × vocab``, a quarter of the tiny LM's matmul work and far more for a 32K-vocab 7B)
    is applied to them alone via transformers' boolean ``logits_to_keep``.
    """
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE
    return keep


def answer_losses(
    model: torch.nn.Module,
    batch: dict[str, Any],
    autocast: Any = contextlib.nullcontext,
    image_features: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of every answer token of ``batch``, computing logits only where they are needed.

    Args:
        batch: ``input_ids, attention_mask, labels`` long ``(B, L)``; ``pixel_values`` ``(B, C, S, S)``.
        autocast: a context factory around the forward (``accelerator.autocast``).
        image_features: ``(B, n_image, D)`` frozen-tower features of the batch's images
            (:mod:`imax.model.vision_cache`), used instead of ``pixel_values`` when given.
    Returns:
        ``(losses, rows)``, both ``(N,)`` for the batch's N answer tokens in row-major order: the
        token's loss (float32) and the batch row it belongs to. ``losses.sum() / N`` equals the
        model's own label loss (tests/train/test_loop.py checks it).
    """
    labels = batch["labels"]
    keep = answer_positions(labels)
    with autocast():
        images = ({"pixel_values": batch["pixel_values"]} if image_features is None
                  else image_inputs(model, image_features))  # the projector runs here, in the graph
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       logits_to_keep=keep, **images).logits  # (N, V)
    targets = labels[:, 1:][keep[:, :-1]]
    rows = torch.arange(labels.shape[0], device=labels.device).repeat_interleave(keep.sum(1))
    return F.cross_entropy(logits.float(), targets, reduction="none"), rows


def per_row_sums(losses: torch.Tensor, rows: torch.Tensor, n_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per batch row: the sum of its answer-token losses and its answer-token count, both float64
    ``(n_rows,)``, from :func:`answer_losses`' ``(losses, rows)``."""
    sums = torch.zeros(n_rows, device=losses.device, dtype=torch.float64).index_add_(0, rows, losses.double())
    return sums, torch.bincount(rows, minlength=n_rows).double()


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> tuple[torch.optim.AdamW, list[str]]:
    """AdamW over the trainable parameters; weight decay on matrices only (as nanoGPT: not on biases/norms).

    Returns the optimizer and the parameter names in the optimizer's index order (saved with its state).
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [(n, p) for n, p in named if p.dim() >= 2]
    no_decay = [(n, p) for n, p in named if p.dim() < 2]
    groups = [
        {"params": [p for _, p in decay], "weight_decay": cfg.weight_decay},
        {"params": [p for _, p in no_decay], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), foreach=False)
    return optimizer, [n for n, _ in decay + no_decay]


def resolve_base(cfg: TrainConfig, entries: list[dict[str, Any]], accelerator: Accelerator) -> tuple[Path, dict]:
    """The base model directory, building the tiny base into ``OUT/base`` when none is given.

    ``cfg.base`` is a local directory or a hub id (:func:`imax.model.locate_model`: HF cache, the hub
    unless offline). The built base is saved (safetensors) and reused on resume so that the frozen weights
    are bit-identical; ``base.json`` records where it came from (``hub_id`` too for a hub id, so a
    checkpoint moved to another machine finds the base in that machine's HF cache).
    """
    base = cfg.base
    if base is not None:
        local = locate_model(base)
        info = {"path": str(local.resolve()), "tiny_config_hash": None}
        if not Path(base).exists():
            info["hub_id"] = str(base)
        return local, info
    target = cfg.out / "base"
    if accelerator.is_main_process and not target.is_dir():
        from imax.tasks import TASK_TOKENS

        corpus = [e["instruction"] for e in entries] + [e["response"] for e in entries]
        tokenizer = train_tokenizer(corpus, list(TASK_TOKENS), cfg.model.vocab_size)
        model = build_model(cfg.model, tokenizer)
        tmp = cfg.out / ".tmp-base"
        shutil.rmtree(tmp, ignore_errors=True)
        save_base(model, tokenizer, tmp)
        os.replace(tmp, target)
    accelerator.wait_for_everyone()
    return target, {"path": str(target.resolve()), "tiny_config_hash": config_hash(cfg.model)}


def check_init_from(source: Path, finetune: str) -> None:
    """Refuse (one line, before any model loads) an ``--init-from`` that is not a complete checkpoint of
    this run's fine-tuning mode."""
    kind = checkpoint_kind(source)
    wanted = "lora" if finetune == "lora" else "full"
    if kind != wanted:
        what = {"lora": "a LoRA checkpoint", "full": "a full fine-tune checkpoint", "model": "a model directory"}
        raise ImaxError(f"--init-from {source} is {what[kind]}; a --finetune {finetune} run starts from "
                        f"{what[wanted]} (use --base for a model directory)")
    file = source / "trainable.safetensors"
    if not file.is_file():
        raise MissingPathError(f"--init-from: {file} does not exist (an incomplete checkpoint)")
    check_safetensors(file)


def init_trainable(model: torch.nn.Module, source: Path, finetune: str) -> None:
    """Start the trainable parameters from checkpoint ``source`` (``--init-from``): its
    ``trainable.safetensors`` must hold exactly this run's trainable set (same fine-tuning mode, base and
    LoRA settings); a checkpoint of another kind is refused naming what it is."""
    check_init_from(source, finetune)
    ckpt.load_trainable(model, source / "trainable.safetensors")


def layer_classes(model: torch.nn.Module) -> list[str]:
    """Class names of the repeated blocks of ``model`` (the elements of every ``...layers`` ModuleList:
    the LM's decoder layers and the vision encoder's layers), e.g. ``["CLIPEncoderLayer",
    "LlamaDecoderLayer"]``: FSDP's auto-wrap units for whatever base is loaded."""
    names = {type(m[0]).__name__ for n, m in model.named_modules()
             if isinstance(m, torch.nn.ModuleList) and n.endswith("layers") and len(m)}
    return sorted(names)


def configure_sharding(accelerator: Accelerator, model: torch.nn.Module, cfg: TrainConfig) -> None:
    """Fill in what the sharded engines need from the loaded model, before ``accelerator.prepare``.

    FSDP: when the launch config names no layer classes to wrap, wrap each decoder / encoder layer of
    THIS model (:func:`layer_classes`), so one config serves Llama, Mistral, Qwen2, CLIP and SigLIP bases
    (LLaVA declares no ``_no_split_modules`` for Accelerate to fall back on). DeepSpeed: the per-GPU
    micro-batch, which Accelerate otherwise reads from a prepared DataLoader (imax's sampler is its own).
    """
    state = accelerator.state
    if accelerator.distributed_type == DistributedType.FSDP:
        plugin = state.fsdp_plugin
        if getattr(plugin, "transformer_cls_names_to_wrap", None) in (None, []):
            plugin.transformer_cls_names_to_wrap = layer_classes(model)
    elif accelerator.distributed_type == DistributedType.DEEPSPEED:
        ds = state.deepspeed_plugin.deepspeed_config
        if ds.get("train_micro_batch_size_per_gpu") in (None, "auto"):
            ds["train_micro_batch_size_per_gpu"] = max(1, cfg.batch_size // accelerator.num_processes)


def gathered_state(accelerator: Accelerator, model: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """Full ``{name: tensor}`` weights of a sharded model (FSDP, DeepSpeed ZeRO-3; on rank 0), else None.

    Every rank must call this (it is a collective). Under ZeRO-3 a parameter of the live module is an
    empty placeholder, so saving ``unwrap_model(model)``'s own tensors would write untouched or empty
    weights (how LLaVA users have lost LoRA runs); the DeepSpeed config must set
    ``stage3_gather_16bit_weights_on_model_save`` (configs/accelerate/deepspeed_zero3.yaml does).
    """
    if accelerator.distributed_type not in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        return None
    return accelerator.get_state_dict(model)


def verify_saved(
    folder: Path, initial: dict[str, tuple[float, float, int]], finetune: str, expect_change: bool = True
) -> None:
    """Check what a checkpoint holds against the run: the trainable tensors kept their sizes and (when
    ``expect_change``: a run with a non-zero learning rate) moved away from their ``initial``
    fingerprints (:func:`imax.train.checkpoint.fingerprint`; a ZeRO-3 / FSDP save of sharded placeholders
    would hold empty or untouched tensors), and a LoRA adapter holds
    the same LoRA + projector tensors as ``trainable.safetensors`` (what evaluate and export load is what
    trained). Raises :class:`ImaxError` naming the checkpoint."""
    saved = ckpt.load_file(folder / "trainable.safetensors")
    now = ckpt.fingerprint(saved)
    hollow = [n for n in initial if n in now and now[n][2] != initial[n][2]]
    if hollow:
        raise ImaxError(f"{folder}: saved trainable tensors have lost their elements ({hollow[:3]}): the save "
                        "captured sharded placeholders (ZeRO-3 / FSDP state dict gathering)")
    if expect_change and initial and all(now[n] == initial[n] for n in initial if n in now):
        raise ImaxError(f"{folder}: the saved trainable weights equal the initial ones; nothing trained or "
                        "the save captured unsharded placeholders (ZeRO-3 / FSDP state dict gathering)")
    if finetune != "lora":
        return
    adapter = ckpt.load_file(folder / "adapter" / "adapter_model.safetensors")
    # PEFT saves without the adapter name: "q_proj.lora_A.default.weight" → "q_proj.lora_A.weight",
    # "multi_modal_projector.modules_to_save.default.linear_1.weight" → "multi_modal_projector.linear_1.weight".
    expected = {k.replace(".modules_to_save.default.", ".").replace(".default.", "."): v for k, v in saved.items()}
    if set(expected) != set(adapter):
        missing, extra = sorted(set(expected) - set(adapter)), sorted(set(adapter) - set(expected))
        raise ImaxError(f"{folder / 'adapter'}: the saved adapter does not hold the trained set (missing "
                        f"{missing[:3]}, unexpected {extra[:3]})")
    for key, value in adapter.items():
        if not torch.equal(expected[key].to(value.dtype), value):
            raise ImaxError(f"{folder / 'adapter'}: {key} differs from the trained tensor in trainable.safetensors")


def write_artifacts(
    cfg: TrainConfig, manifest: dict[str, Any], base_info: dict[str, Any], interface: ModelInterface | None = None
) -> None:
    """``config.yaml``, ``tasks.json``, ``data_manifest.json``, ``base.json`` (and ``interface.json``: the
    checkpoint's chat template, image token count and image preprocessing) into ``OUT``."""
    from imax.tasks import TASKS

    if interface is not None:
        ckpt.write_json(cfg.out / "interface.json", interface.describe())
    save_yaml(cfg, cfg.out / "config.yaml")
    ckpt.write_json(cfg.out / "tasks.json", {name: spec.describe() for name, spec in TASKS.items()})
    ckpt.write_json(
        cfg.out / "data_manifest.json",
        {"id": manifest.get("id"), "path": str(Path(cfg.data).resolve()), "data_root": manifest.get("data_root")},
    )
    ckpt.write_json(cfg.out / "base.json", base_info)


def save_checkpoint(
    name: str,
    *,
    cfg: TrainConfig,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    names: list[str],
    state: dict[str, Any],
    tokenizer: Any = None,
    processor: Any = None,
) -> Path:
    """Write ``OUT/checkpoints/<name>`` atomically (all ranks call this; rank 0 writes the shared part).

    Sharded engines (FSDP, DeepSpeed) gather the full weights first (:func:`gathered_state`); their
    optimizer state stays sharded, so those checkpoints are marked ``"resumable": false``.
    """
    root = ckpt.checkpoint_root(cfg.out)
    final, tmp = root / name, root / f".tmp-{name}"
    full_state = gathered_state(accelerator, model)  # collective: every rank
    sharded = full_state is not None
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        unwrapped = accelerator.unwrap_model(model)
        if cfg.finetune == "lora":
            unwrapped.save_pretrained(tmp / "adapter", safe_serialization=True, state_dict=full_state)
        else:  # a full fine-tune is a new base: loadable with load_base(CKPT / "model")
            save_base(unwrapped, tokenizer, tmp / "model", processor=processor, state_dict=full_state)
        ckpt.save_trainable(unwrapped, tmp / "trainable.safetensors", full_state)
        if not sharded:
            ckpt.save_optimizer(optimizer, tmp, names)
        ckpt.write_json(tmp / "state.json", {**state, "resumable": not sharded})
        ckpt.copy_artifacts(cfg.out, tmp, ARTIFACTS)
    accelerator.wait_for_everyone()
    ckpt.save_rng(tmp, accelerator.process_index)  # every rank: its own dropout stream
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():  # a re-save of the same step (e.g. after resume): replace it whole
            shutil.rmtree(final)
        os.replace(tmp, final)
        if name.startswith("step-"):
            ckpt.prune(cfg.out, cfg.keep_last)
    accelerator.wait_for_everyone()
    return final


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, loader: DataLoader, accelerator: Accelerator) -> float:
    """Answer-token mean loss over ``loader`` (this rank's shard), summed over ranks."""
    was_training = model.training
    model.eval()
    total = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
    for batch in loader:
        batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        losses, _ = answer_losses(model, batch, accelerator.autocast)
        total += torch.stack([losses.sum().double(), torch.tensor(float(losses.numel()), device=total.device,
                                                                   dtype=torch.float64)])
    total = accelerator.reduce(total, "sum")
    model.train(was_training)
    return float(total[0] / total[1].clamp(min=1))


# ---- the loop ------------------------------------------------------------------------------------------
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
    entries = load_entries(cfg.data, "train")
    val_entries = load_entries(cfg.data, "val")[: cfg.eval_samples] if cfg.eval_every_steps else []
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
        _truncate_log(cfg.out, start_step)

    # Seven tasks share an image: decode + resize each image once per process.
    collator = TrainCollator(interface, manifest["data_root"], cfg.max_length, cache=ImageCache())
    sampler = StreamSampler(n, seed=cfg.seed, batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
                            total_steps=total, start_step=start_step, rank=rank, world=world)
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
    # Interval accumulators (this rank): loss sum, answer tokens, tokens, samples; per-task loss sums/counts.
    acc = torch.zeros(4, device=device, dtype=torch.float64)
    task_acc = torch.zeros(2, len(TASK_NAMES), device=device, dtype=torch.float64)
    losses: list[float] = []
    t_start = t_last = time.perf_counter()
    last_loss = math.nan

    for step in range(start_step, total):
        lr = lr_at(step, lr=cfg.lr, total=total, warmup=warmup, min_lr=cfg.lr * cfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr

        # Fetch the whole step first: the loss denominator is the answer-token count of all its micro-batches.
        micro = [next(batches) for _ in range(cfg.grad_accum)]
        n_local = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in micro)
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
                accelerator.backward(tok.sum() * world / denom)
            with torch.no_grad():  # logging statistics, from the same forward
                per_sample, counts = per_row_sums(tok, rows, len(batch["task"]))
                acc += torch.stack([per_sample.sum(), counts.sum(),
                                    batch["attention_mask"].sum().double(),
                                    torch.tensor(len(per_sample), device=device, dtype=torch.float64)])
                idx = torch.tensor([TASK_NAMES.index(t) for t in batch["task"]], device=device)
                has = counts > 0
                task_acc[0].index_add_(0, idx[has], per_sample[has] / counts[has])
                task_acc[1].index_add_(0, idx[has], torch.ones_like(per_sample[has]))

        grad_norm = None
        if cfg.max_grad_norm > 0 and not deepspeed:  # DeepSpeed clips by its own gradient_clipping
            grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        logger.advance()

        # -- logging (all ranks reduce; rank 0 writes)
        if done % max(1, cfg.log_every_steps) == 0 or done == total:
            g, gt = accelerator.reduce(acc, "sum"), accelerator.reduce(task_acc, "sum")
            now = time.perf_counter()
            dt = max(now - t_last, 1e-9)
            last_loss = float(g[0] / g[1].clamp(min=1))
            losses.append(last_loss)
            per_task = {TASK_NAMES[j]: float(gt[0, j] / gt[1, j]) for j in range(len(TASK_NAMES)) if gt[1, j] > 0}
            record = {"step": done, "epoch": done * cfg.batch_size * cfg.grad_accum / n, "loss": last_loss,
                      "task_loss": per_task, "lr": lr, "samples_per_s": float(g[3]) / dt,
                      "tokens_per_s": float(g[2]) / dt, "answer_tokens": int(g[1]), "elapsed_s": now - t_start}
            if grad_norm is not None:
                record["grad_norm"] = float(grad_norm)
            logger.log(record)
            acc.zero_()
            task_acc.zero_()
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


def _truncate_log(out: Path, step: int) -> None:
    """Drop log records past ``step`` (written by the interrupted run after its last checkpoint)."""
    from imax.train.logging import read_log

    records = [r for r in read_log(out) if r["step"] <= step]
    path = Path(out) / "log.jsonl"
    if path.exists():
        tmp = path.with_name(".tmp-log.jsonl")
        import json

        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, path)


__all__ = ["TrainResult", "answer_losses", "answer_positions", "build_optimizer", "per_row_sums", "token_losses",
           "train"]
