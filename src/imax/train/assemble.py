"""Everything the loop does before its first step: the base model (built or located), the
``--init-from`` checks, the optimizer, and what the sharded engines (FSDP, DeepSpeed) need to know."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType

from imax.model import build_model, checkpoint_kind, locate_model, save_base, train_tokenizer
from imax.model.files import check_safetensors
from imax.schema.config import config_hash
from imax.schema.config.train import TrainConfig
from imax.schema.errors import ImaxError, MissingPathError
from imax.train import checkpoint as ckpt


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> tuple[torch.optim.AdamW, list[str]]:
    """AdamW over the trainable parameters; weight decay on matrices only (as nanoGPT: not on biases/norms);
    each group's ``peak_lr`` is where the schedule peaks for it: ``cfg.projector_lr`` for the projector's,
    ``cfg.lr * cfg.lora_plus_ratio`` for the LoRA B matrices' (LoRA+), ``cfg.lr`` for the rest.

    Returns the optimizer and the parameter names in the optimizer's index order (saved with its state).
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]

    def rate(name: str) -> float:
        if "multi_modal_projector" in name and cfg.projector_lr is not None:
            return cfg.projector_lr
        if ".lora_B." in name and cfg.lora_plus_ratio is not None:
            return cfg.lr * cfg.lora_plus_ratio
        return cfg.lr

    # one rate: the two groups over every parameter; more rates: each rate's parameters in groups of their own
    peaks = list(dict.fromkeys([cfg.lr] + [rate(n) for n, _ in named]))
    parts = [(peak, [(n, p) for n, p in named if rate(n) == peak]) for peak in peaks]
    groups, order = [], []
    for peak, part in parts:
        for decays in (True, False):
            sel = [(n, p) for n, p in part if (p.dim() >= 2) == decays]
            groups.append({"params": [p for _, p in sel], "weight_decay": cfg.weight_decay if decays else 0.0,
                           "peak_lr": peak})
            order += [n for n, _ in sel]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), foreach=False)
    return optimizer, order


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
        from imax.tasks import task_tokens

        corpus = [e["instruction"] for e in entries] + [e["response"] for e in entries]
        tokenizer = train_tokenizer(corpus, list(task_tokens()), cfg.model.vocab_size)
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
