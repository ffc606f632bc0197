"""Every checkpoint imax writes, loaded by one function: LoRA runs, full fine-tunes and plain models.

Kinds (:func:`checkpoint_kind`)::

    "lora"   CKPT/adapter/ (PEFT save_pretrained: adapter_config.json + adapter_model.safetensors, the
             projector inside as modules_to_save) + CKPT/base.json naming the base model
    "full"   CKPT/model/ (a complete LLaVA directory, ``save_base`` layout) + CKPT/trainable.safetensors
             (the names of what trained, and the exact tensors resume loads)
    "model"  a LLaVA model directory itself: a base (``imax pretrain``), a merged export, or any
             ``save_pretrained`` LLaVA checkpoint

``imax evaluate``, ``imax export``, ``imax fisher`` and ``imax pseudo`` all go through
:func:`load_checkpoint`, so whatever ``imax train`` wrote (``--finetune lora`` or ``full``) works in each.
Anything else (a built dataset, a training run's root, an empty folder) is refused with one line saying
what the directory looks like.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
from peft import PeftModel
from safetensors import safe_open
from transformers import LlavaForConditionalGeneration, PreTrainedTokenizerFast

from imax.model.files import (
    _first_line,
    _read_json,
    check_safetensors,
    check_weight_files,
    describe_directory,
    locate_model,
)
from imax.model.llava import freeze_unused
from imax.model.load import load_base
from imax.schema.errors import ImaxError, MissingPathError

CheckpointKind = Literal["lora", "full", "model"]


class CheckpointKindError(ImaxError):
    """A directory given as a checkpoint is not one (or not of the kind the command needs)."""


def checkpoint_kind(path: str | Path) -> CheckpointKind:
    """``"lora"``, ``"full"`` or ``"model"`` (see the module docstring) for the directory ``path``.

    Raises :class:`MissingPathError` when it does not exist and :class:`CheckpointKindError` (naming what
    the directory is instead, e.g. a built dataset or a run root) when it is no checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise MissingPathError(f"checkpoint {str(path)!r} does not exist")
    if not path.is_dir():
        raise CheckpointKindError(f"checkpoint {str(path)!r} is a file, not a checkpoint directory")
    if (path / "adapter" / "adapter_config.json").is_file():
        return "lora"
    if (path / "model" / "config.json").is_file():
        return "full"
    if (path / "config.json").is_file():
        return "model"
    what = describe_directory(path)
    raise CheckpointKindError(
        f"{path}: not a checkpoint ({what or 'no adapter/adapter_config.json, model/config.json or config.json'})"
    )


def base_path_of(checkpoint: Path) -> Path:
    """The base model directory named by ``checkpoint/base.json`` (``{"path": dir}``; the key "base" is
    accepted too). When that directory is gone but the file records the ``hub_id`` it came from, the HF
    cache copy is used (:func:`imax.model.files.locate_model`)."""
    pointer = Path(checkpoint) / "base.json"
    if not pointer.is_file():
        raise MissingPathError(f"{pointer} does not exist: pass the base model directory explicitly (--base)")
    data = _read_json(pointer)
    value = data.get("path", data.get("base")) if isinstance(data, dict) else data
    if not isinstance(value, str):
        raise ImaxError(f'{pointer}: expected {{"path": "<base dir>"}}, got {data!r}')
    hub_id = data.get("hub_id") if isinstance(data, dict) else None
    if not Path(value).is_dir() and isinstance(hub_id, str):
        return locate_model(hub_id)
    return Path(value)


def load_adapter_checkpoint(
    checkpoint: Path, base: Path | None = None, trainable: bool = False, dtype: str | torch.dtype = "auto"
) -> tuple[PeftModel, PreTrainedTokenizerFast]:
    """Load ``base`` (default: from ``checkpoint/base.json``) and the LoRA adapter in ``checkpoint/adapter``,
    in eval mode; ``trainable`` restores ``requires_grad`` on the adapter and ``modules_to_save`` (the
    training-time trainable set), else everything is frozen. ``dtype`` is the base's (LoRA weights stay
    float32, PEFT's ``autocast_adapter_dtype``)."""
    checkpoint = Path(checkpoint)
    adapter = checkpoint / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise CheckpointKindError(f"{adapter} has no adapter_config.json: not an imax LoRA checkpoint")
    _read_json(adapter / "adapter_config.json")
    check_weight_files(adapter)
    model, tokenizer = load_base(base if base is not None else base_path_of(checkpoint), dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            peft_model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ImaxError(f"{adapter}: cannot apply the adapter to its base ({_first_line(exc)})") from None
    peft_model.eval()
    return peft_model, tokenizer


def trained_names(checkpoint: Path) -> list[str]:
    """Parameter names in ``checkpoint/trainable.safetensors`` (header only; the file is checked whole)."""
    file = Path(checkpoint) / "trainable.safetensors"
    if not file.is_file():
        raise MissingPathError(f"{file} does not exist: not a complete imax train checkpoint")
    check_safetensors(file)
    with safe_open(str(file), framework="pt") as f:
        return list(f.keys())


def load_full_checkpoint(
    checkpoint: Path, trainable: bool = False, dtype: str | torch.dtype = "auto"
) -> tuple[LlavaForConditionalGeneration, PreTrainedTokenizerFast]:
    """A ``--finetune full`` checkpoint: the model in ``checkpoint/model``, in eval mode. ``trainable``
    sets ``requires_grad`` on exactly the parameters that trained (the names in
    ``trainable.safetensors``), else everything is frozen."""
    checkpoint = Path(checkpoint)
    names = set(trained_names(checkpoint)) if trainable else set()
    model, tokenizer = load_base(checkpoint / "model", dtype=dtype)
    model.requires_grad_(False)
    params = dict(model.named_parameters())
    unknown = sorted(names - set(params))
    if unknown:
        raise ImaxError(f"{checkpoint / 'trainable.safetensors'}: names no parameter of the model: {unknown[:5]}")
    for name in names:
        params[name].requires_grad_(True)
    return model.eval(), tokenizer


def load_checkpoint(
    path: str | Path, base: Path | None = None, trainable: bool = False, dtype: str | torch.dtype = "auto"
) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """(model, tokenizer) of any checkpoint imax writes, in eval mode.

    lora → a ``PeftModel`` over ``base`` (default: base.json's); full → the fine-tuned
    ``LlavaForConditionalGeneration``; model → the directory's model (``base`` must be None for these two).
    ``trainable``: the training-time trainable set has ``requires_grad`` (what the Fisher differentiates;
    for a plain model directory everything LLaVA reads), else every parameter is frozen.
    """
    kind = checkpoint_kind(path)
    if kind == "lora":
        return load_adapter_checkpoint(Path(path), base, trainable=trainable, dtype=dtype)
    if base is not None:
        raise ImaxError(f"{path} is a {'full fine-tune checkpoint' if kind == 'full' else 'model directory'}: "
                        "it holds every weight, --base applies only to LoRA checkpoints")
    if kind == "full":
        return load_full_checkpoint(Path(path), trainable=trainable, dtype=dtype)
    model, tokenizer = load_base(Path(path), dtype=dtype)
    model.requires_grad_(False)
    if trainable:
        model.requires_grad_(True)
        freeze_unused(model)
    return model.eval(), tokenizer


def checkpoint_config(path: Path) -> dict:
    """The resolved training config (``config.yaml``) saved beside a checkpoint, or {} when absent."""
    import yaml

    file = Path(path) / "config.yaml"
    if not file.is_file():
        return {}
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ImaxError(f"{file}: not valid YAML ({_first_line(exc)})") from None
    return data if isinstance(data, dict) else {}


__all__ = [
    "CheckpointKind",
    "CheckpointKindError",
    "base_path_of",
    "checkpoint_config",
    "checkpoint_kind",
    "load_adapter_checkpoint",
    "load_checkpoint",
    "load_full_checkpoint",
    "trained_names",
]

