"""The loop's bookkeeping: named interval counters for the log, the Fisher checkpoint schedule, the run
artifacts, atomic checkpoint saves (gathering sharded weights) and the check of what a save holds."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType

from imax.data import ModelInterface
from imax.model import save_base
from imax.schema.config import save_yaml
from imax.schema.config.train import TrainConfig
from imax.schema.errors import ImaxError
from imax.tasks import task_names
from imax.train import checkpoint as ckpt

ARTIFACTS = ("config.yaml", "tasks.json", "data_manifest.json", "base.json", "interface.json")
FISHER_NAMES = ("initial", "early", "mid", "late")


@dataclass
class IntervalStats:
    """This rank's sums over one logging interval, float64 on the training device (summed over ranks
    by :meth:`reduced` in one collective)."""

    loss_sum: torch.Tensor
    """() sum of the answer-token losses."""
    answer_tokens: torch.Tensor
    """() answer tokens (the loss's denominator)."""
    tokens: torch.Tensor
    """() attended tokens (prompt, image and answer), for tokens/s."""
    samples: torch.Tensor
    """() samples, for samples/s."""
    task_loss: torch.Tensor
    """(n_tasks,) per task (task-table order, ``imax.tasks.task_names()``): the sum of its samples'
    mean answer-token losses."""
    task_samples: torch.Tensor
    """(n_tasks,) per task: samples with at least one answer token."""

    @classmethod
    def zeros(cls, device: torch.device) -> IntervalStats:
        """Empty counters on ``device``."""
        def z(*shape: int) -> torch.Tensor:
            return torch.zeros(shape, device=device, dtype=torch.float64)

        n = len(task_names())
        return cls(z(), z(), z(), z(), z(n), z(n))

    def add(self, per_sample: torch.Tensor, counts: torch.Tensor, attention_mask: torch.Tensor,
            tasks: Sequence[str]) -> None:
        """Count one micro-batch: ``per_sample``/``counts`` float64 ``(B,)`` from
        :func:`imax.train.step.per_row_sums`, ``attention_mask`` ``(B, L)``, ``tasks`` the B task names."""
        self.loss_sum += per_sample.sum()
        self.answer_tokens += counts.sum()
        self.tokens += attention_mask.sum().double()
        self.samples += float(len(per_sample))
        order = {name: j for j, name in enumerate(task_names())}
        idx = torch.tensor([order[t] for t in tasks], device=per_sample.device)
        has = counts > 0
        self.task_loss.index_add_(0, idx[has], per_sample[has] / counts[has])
        self.task_samples.index_add_(0, idx[has], torch.ones_like(per_sample[has]))

    def reduced(self, accelerator: Accelerator) -> IntervalStats:
        """The counters summed over all ranks (a collective: every rank calls it)."""
        n = len(task_names())
        flat = torch.cat([torch.stack([self.loss_sum, self.answer_tokens, self.tokens, self.samples]),
                          self.task_loss, self.task_samples])
        g = accelerator.reduce(flat, "sum")
        return IntervalStats(g[0], g[1], g[2], g[3], g[4 : 4 + n], g[4 + n :])

    def reset(self) -> None:
        """Zero every counter in place (the start of the next interval)."""
        for t in (self.loss_sum, self.answer_tokens, self.tokens, self.samples, self.task_loss, self.task_samples):
            t.zero_()


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


def truncate_log(out: Path, step: int) -> None:
    """Drop log records past ``step`` (written by the interrupted run after its last checkpoint)."""
    from imax.train.logging import read_log

    records = [r for r in read_log(out) if r["step"] <= step]
    path = Path(out) / "log.jsonl"
    if path.exists():
        tmp = path.with_name(".tmp-log.jsonl")
        import json

        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, path)
