"""The processor (image processor + tokenizer + image-token expansion) saved beside every model imax
composes, and read back and checked against the model for every checkpoint it loads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import AutoProcessor, LlavaProcessor, PreTrainedTokenizerBase, ProcessorMixin

from imax.model.files import locate_model
from imax.model.llava import CLS_TOKENS, num_image_tokens
from imax.model.tokenizer import IMAGE_TOKEN
from imax.schema.errors import ImaxError, MissingPathError


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' logger for a block: without torchvision, touching ``CLIPImageProcessor``
    logs a fallback notice (to its PIL twin, which computes the same pixels) that would break imax's
    one-line error output."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def image_processor_for(
    model: torch.nn.Module,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    resample: int = 2,
) -> Any:
    """The image processor of a model imax composed itself (:func:`build_model`): ``CLIPImageProcessor``
    at the tower's side and channel count (``do_convert_rgb`` only for 3 channels), mean/std 0.5 per channel unless
    given (the tiny tower is trained from scratch on that scale), bilinear resampling (``resample``, a
    PIL code). Published checkpoints ship their own."""
    vision = model.config.vision_config
    c, side = int(vision.num_channels), int(vision.image_size)
    mean = tuple(mean) if mean is not None else (0.5,) * c
    std = tuple(std) if std is not None else (0.5,) * c
    if len(mean) != c or len(std) != c:
        raise ValueError(f"mean/std need {c} values (one per input channel), got {mean}, {std}")
    with _quiet_transformers():
        from transformers import CLIPImageProcessor  # imported here: its lazy import logs (see above)

        return CLIPImageProcessor(
            size={"shortest_edge": side}, crop_size={"height": side, "width": side}, do_center_crop=True,
            resample=resample, image_mean=list(mean), image_std=list(std), do_convert_rgb=c == 3,
        )  # fmt: skip


def make_processor(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, image_processor: Any = None
) -> LlavaProcessor:
    """The ``LlavaProcessor`` of a model imax composed itself: ``image_processor`` (default
    :func:`image_processor_for`), the tokenizer and its chat template, the tower's patch size, feature
    strategy and CLS count. Saved beside the model by :func:`save_base`, read back by
    :func:`load_processor` like any published checkpoint's."""
    vision = model.config.vision_config
    image_processor = image_processor if image_processor is not None else image_processor_for(model)
    image_token = tokenizer.convert_ids_to_tokens(model.config.image_token_index)
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=int(vision.patch_size),
        vision_feature_select_strategy=model.config.vision_feature_select_strategy,
        chat_template=tokenizer.chat_template,
        image_token=image_token,
        num_additional_image_tokens=CLS_TOKENS.get(vision.model_type, 0),
    )


PROCESSOR_FILES: tuple[str, ...] = ("processor_config.json", "preprocessor_config.json")
"""Files that mark a directory holding a processor (transformers 5 nests the image processor in the
first; published llava-hf checkpoints ship the second)."""


def _has_processor(path: Path) -> bool:
    return any((path / name).is_file() for name in PROCESSOR_FILES)


def processor_dir(path: str | Path) -> Path:
    """The directory holding the processor of ``path`` (a directory or hub id): ``path`` itself (a base,
    a merged export), its ``model/`` (a full fine-tune checkpoint) or the base named by ``path/base.json``
    (a LoRA checkpoint)."""
    path = locate_model(path)  # a local directory, or a hub id resolved to its cached snapshot
    for candidate in (path, path / "model"):
        if _has_processor(candidate):
            return candidate
    pointer = path / "base.json"
    if pointer.is_file():
        data = json.loads(pointer.read_text())
        value = data.get("path", data.get("base")) if isinstance(data, dict) else data
        if isinstance(value, str) and _has_processor(base := locate_model(value)):
            return base
    raise MissingPathError(
        f"{str(path)!r} has no {PROCESSOR_FILES[0]} (nor model/ or base.json leading to one): a LLaVA checkpoint "
        "needs its processor (processor.save_pretrained); rebuild a tiny base with `imax pretrain`"
    )


def load_processor(path: str | Path, model: torch.nn.Module | None = None) -> ProcessorMixin:
    """The checkpoint's own processor (``AutoProcessor``, local files only) for the checkpoint at ``path``
    (see :func:`processor_dir`); with ``model``, checked against it: image token id, input side,
    channels and image-token count must agree, else :class:`ImaxError` naming the mismatch."""
    where = processor_dir(path)
    with _quiet_transformers():
        processor = AutoProcessor.from_pretrained(where, local_files_only=True)
    if model is not None:
        check_processor(processor, model, where)
    return processor


def _input_side(image_processor: Any) -> int | None:
    """The square side an image processor outputs: its centre-crop size when it crops, else its resize
    size (``height`` or ``shortest_edge``; a dict or a transformers ``SizeDict``)."""
    crop = getattr(image_processor, "crop_size", None) if getattr(image_processor, "do_center_crop", False) else None
    size = crop or getattr(image_processor, "size", None)
    if isinstance(size, int) or size is None:
        return size
    for key in ("height", "shortest_edge"):
        value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        if value is not None:
            return int(value)
    return None


def check_processor(processor: ProcessorMixin, model: torch.nn.Module, where: Path | str = "") -> None:
    """Raise :class:`ImaxError` unless ``processor`` feeds ``model``: same image token id, a square input
    of the tower's side and channel count, and the model's image-token count."""
    config = model.config
    vision = config.vision_config
    tok = processor.tokenizer
    token = getattr(processor, "image_token", IMAGE_TOKEN)
    ids = tok.encode(token, add_special_tokens=False)
    problems = []
    if ids != [config.image_token_index]:
        problems.append(f"image token {token!r} is {ids}, the model's image_token_index {config.image_token_index}")
    ip = processor.image_processor
    mean = getattr(ip, "image_mean", None)
    channels = len(mean) if isinstance(mean, list | tuple) else (3 if getattr(ip, "do_convert_rgb", True) is not False else 1)
    if channels != vision.num_channels:
        problems.append(f"processor gives {channels} channel(s), tower takes {vision.num_channels}")
    side = _input_side(ip)
    if side != vision.image_size:
        problems.append(f"processor input side {side}, tower image_size {vision.image_size}")
    elif getattr(processor, "patch_size", None):
        n = (side // processor.patch_size) ** 2 + int(getattr(processor, "num_additional_image_tokens", 0) or 0)
        n -= getattr(processor, "vision_feature_select_strategy", None) == "default"
        if n != num_image_tokens(model):
            problems.append(f"processor expands an image to {n} tokens, the model takes {num_image_tokens(model)}")
    if problems:
        raise ImaxError(f"{where}: processor does not match the model: " + "; ".join(problems))
