"""Export a fine-tuned model: LoRA merged into the weights, saved with the base's tokenizer, processor and
chat template, so ``AutoProcessor`` + ``LlavaForConditionalGeneration`` load it with no imax code.

Checkpoints read here are those ``imax.train`` writes (:mod:`imax.model.checkpoint`): a LoRA checkpoint
(``adapter/`` + ``base.json``) is merged into its base; a full fine-tune (``model/``) is written as is. The
checkpoint's artifacts (config.yaml, tasks.json, data_manifest.json, interface.json) are copied beside the
export, and so is the checkpoint's processor (image processor + chat template).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

from peft import PeftModel
from transformers import LlavaForConditionalGeneration, PreTrainedTokenizerFast, ProcessorMixin

from imax.model.checkpoint import (
    CheckpointKindError,
    base_path_of,
    checkpoint_kind,
    load_checkpoint,
)
from imax.model.load import save_base
from imax.model.processor import load_processor

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


def export_checkpoint(checkpoint: Path, out: Path, base: Path | None = None, merge: bool = True) -> Path:
    """Export ``checkpoint`` to ``out`` as a plain transformers LLaVA directory.

    LoRA checkpoints: merged weights (``merge``) or the adapter + tokenizer + base.json. Full fine-tunes:
    their model (``merge`` is moot: there is nothing to merge). The checkpoint's artifacts
    (:data:`ARTIFACTS`) are copied beside the export. A plain model directory is refused (nothing to export).
    """
    checkpoint, out = Path(checkpoint), Path(out)
    kind = checkpoint_kind(checkpoint)
    if kind == "model":
        raise CheckpointKindError(
            f"{checkpoint} is already a plain model directory (config.json + weights), not an imax train "
            "checkpoint: nothing to merge or export"
        )
    model, tokenizer = load_checkpoint(checkpoint, base)
    # The checkpoint's own processor (image processor, chat template; a LoRA run's is its base's)
    # travels with the export, so AutoProcessor loads it.
    processor = load_processor(base if base is not None and kind == "lora" else checkpoint, model)
    if kind == "full":
        save_base(model, tokenizer, out, processor=processor)
    elif merge:
        merge_and_save(model, tokenizer, out, inplace=True, processor=processor)
    else:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out / "adapter")
        tokenizer.save_pretrained(out / "adapter")
        processor.save_pretrained(out / "adapter")
        base_dir = base if base is not None else base_path_of(checkpoint)
        (out / "base.json").write_text(json.dumps({"path": str(Path(base_dir).resolve())}, indent=2))
    for name in ARTIFACTS:
        if (checkpoint / name).is_file():
            shutil.copy2(checkpoint / name, out / name)
    return out
