"""Save a LLaVA model as a local checkpoint (weights, tokenizer, processor) and load one back."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    LlavaForConditionalGeneration,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    ProcessorMixin,
)

from imax.model.files import _first_line, check_model_dir, resolve_dtype
from imax.model.llava import freeze_unused
from imax.model.processor import make_processor
from imax.model.tokenizer import IMAGE_TOKEN, check_tokenizer, special_id
from imax.schema.errors import ImaxError


def save_base(
    model: LlavaForConditionalGeneration,
    tokenizer: PreTrainedTokenizerBase,
    path: Path,
    processor: ProcessorMixin | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` (safetensors + config.json), ``tokenizer`` and its processor (image processor
    config, processor config, chat template) to the local directory ``path`` — the layout of a published
    llava-hf checkpoint, which ``AutoProcessor`` + ``LlavaForConditionalGeneration`` load as is.

    ``processor``: the checkpoint's own (pass the base's when saving a fine-tune of it); None builds
    :func:`make_processor` (for models composed by :func:`build_model`). ``state_dict``: the full weights
    when the live model is sharded (FSDP / ZeRO-3 gather them with ``accelerator.get_state_dict``); None
    saves the model's own parameters.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, state_dict=state_dict)
    tokenizer.save_pretrained(path)
    processor = processor if processor is not None else make_processor(model, tokenizer)
    processor.save_pretrained(path)
    return path


def load_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """The tokenizer saved in ``path``, checked (:func:`check_tokenizer`); a broken tokenizer file is an
    :class:`ImaxError` naming it."""
    path = Path(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as exc:  # tokenizers raises a bare Exception for a malformed tokenizer.json
        bad = next((path / n for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
                    if (path / n).is_file() and not _valid_json(path / n)), path / "tokenizer.json")
        raise ImaxError(f"{bad}: cannot load the tokenizer ({_first_line(exc)})") from None
    try:
        check_tokenizer(tokenizer)
    except ValueError as exc:
        raise ImaxError(f"{path}: tokenizer unusable for imax: {exc}") from None
    return tokenizer


def _valid_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def load_base(
    path: str | Path, dtype: str | torch.dtype = "auto", device: str | torch.device | None = None
) -> tuple[LlavaForConditionalGeneration, PreTrainedTokenizerFast]:
    """Load a LLaVA-format model directory (``save_base`` layout, a merged export, or any
    ``save_pretrained`` LLaVA checkpoint) or a hub id (:func:`locate_model`).

    ``dtype``: a torch dtype, a :data:`DTYPES` name or "auto" (:func:`resolve_dtype`: float32 on the CPU,
    the checkpoint's own dtype elsewhere). ``device`` only informs "auto"; the model is returned on the CPU.
    Raises :class:`MissingPathError` / :class:`ImaxError` (one line naming the file) when the directory,
    its config, its tokenizer or its weights are missing, truncated or malformed.
    """
    path = check_model_dir(path)
    torch_dtype = dtype if isinstance(dtype, torch.dtype) else resolve_dtype(dtype, path, device)
    # Tokenizer first: it is cheap, and a broken one should fail before gigabytes of weights load.
    tokenizer = load_tokenizer(path)
    try:
        model = LlavaForConditionalGeneration.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ImaxError(f"{path}: cannot load the LLaVA weights ({_first_line(exc)})") from None
    freeze_unused(model)
    if model.config.image_token_index != special_id(tokenizer, IMAGE_TOKEN):
        raise ImaxError(
            f"{path}: config image_token_index {model.config.image_token_index} is not the "
            f"tokenizer's {IMAGE_TOKEN} id {special_id(tokenizer, IMAGE_TOKEN)}"
        )
    return model, tokenizer


def meta_model(path: str | Path) -> LlavaForConditionalGeneration:
    """The model of the directory ``path`` (or hub id) built on the meta device: its module tree and
    parameter shapes without reading or allocating a weight (to check a LoRA regex before loading 7B)."""
    path = check_model_dir(path)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ImaxError(f"{path / 'config.json'}: not a usable model config ({_first_line(exc)})") from None
    with torch.device("meta"):
        return LlavaForConditionalGeneration(config)
