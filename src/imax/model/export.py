"""Export a fine-tuned model: LoRA merged into the weights, saved with the base's tokenizer, processor and
chat template, so ``AutoProcessor`` + ``LlavaForConditionalGeneration`` load it with no imax code.

Checkpoint layout read here (written by ``imax.train``)::

    CKPT/adapter/        PeftModel.save_pretrained output (adapter_config.json + adapter_model.safetensors)
    CKPT/base.json       {"path": "<base model directory>"} (the key "base" is accepted too)
    CKPT/config.yaml, tasks.json, data_manifest.json   artifacts copied beside the export when present
"""

from __future__ import annotations

import copy
import json
import shutil
import warnings
from pathlib import Path

from peft import PeftModel
from transformers import LlavaForConditionalGeneration, PreTrainedTokenizerFast, ProcessorMixin

from imax.model.build import load_base, load_processor
from imax.schema.errors import MissingPathError

ARTIFACTS: tuple[str, ...] = ("config.yaml", "tasks.json", "data_manifest.json", "interface.json")
"""Files copied from a checkpoint beside its export (resolved config, task table, data manifest, the
model interface: chat template, image-token count, image preprocessing and its pad-to-square geometry)."""


def merge_and_save(
    peft_model: PeftModel,
    tokenizer: PreTrainedTokenizerFast,
    out: Path,
    inplace: bool = False,
    processor: ProcessorMixin | None = None,
) -> LlavaForConditionalGeneration:
    """Fold the LoRA deltas and the trained projector copy into a plain LLaVA model and save it to ``out``.

    ``inplace=False`` merges a deep copy so ``peft_model`` keeps working (the tiny model is a few MB);
    pass True for large models. ``LlavaForConditionalGeneration.from_pretrained(out)`` then reproduces
    the PEFT model's logits (to float rounding) with no imax or peft code.
    """
    out = Path(out)
    model = peft_model if inplace else copy.deepcopy(peft_model)
    merged = model.merge_and_unload()
    merged.requires_grad_(False)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if processor is not None:  # image processor + processor config + chat template: AutoProcessor loads `out`
        processor.save_pretrained(out)
    return merged


def base_path_of(checkpoint: Path) -> Path:
    """The base model directory named by ``checkpoint/base.json``."""
    pointer = Path(checkpoint) / "base.json"
    if not pointer.is_file():
        raise MissingPathError(f"{pointer} does not exist: pass the base model directory explicitly (--base)")
    data = json.loads(pointer.read_text())
    value = data.get("path", data.get("base")) if isinstance(data, dict) else data
    if not isinstance(value, str):
        raise MissingPathError(f'{pointer}: expected {{"path": "<base dir>"}}, got {data!r}')
    return Path(value)


def load_adapter_checkpoint(
    checkpoint: Path, base: Path | None = None, trainable: bool = False
) -> tuple[PeftModel, PreTrainedTokenizerFast]:
    """Load ``base`` (default: from ``checkpoint/base.json``) and the LoRA adapter in ``checkpoint/adapter``,
    in eval mode; ``trainable`` restores ``requires_grad`` on the adapter and ``modules_to_save`` (the
    training-time trainable set), else everything is frozen."""
    checkpoint = Path(checkpoint)
    adapter = checkpoint / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise MissingPathError(f"{adapter} has no adapter_config.json: not an imax train checkpoint")
    model, tokenizer = load_base(base if base is not None else base_path_of(checkpoint))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    peft_model.eval()
    return peft_model, tokenizer


def export_checkpoint(checkpoint: Path, out: Path, base: Path | None = None, merge: bool = True) -> Path:
    """Export ``checkpoint`` to ``out``: merged weights (``merge``) or the adapter + tokenizer + base.json.

    The checkpoint's artifacts (:data:`ARTIFACTS`) are copied beside the export.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    peft_model, tokenizer = load_adapter_checkpoint(checkpoint, base)
    # The base's own processor (image processor, chat template) travels with the export.
    processor = load_processor(base if base is not None else checkpoint, peft_model)
    if merge:
        merge_and_save(peft_model, tokenizer, out, inplace=True, processor=processor)
    else:
        out.mkdir(parents=True, exist_ok=True)
        peft_model.save_pretrained(out / "adapter")
        tokenizer.save_pretrained(out / "adapter")
        processor.save_pretrained(out / "adapter")
        base_dir = base if base is not None else base_path_of(checkpoint)
        (out / "base.json").write_text(json.dumps({"path": str(Path(base_dir).resolve())}, indent=2))
    for name in ARTIFACTS:
        if (checkpoint / name).is_file():
            shutil.copy2(checkpoint / name, out / name)
    return out
