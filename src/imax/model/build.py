"""Compose the LLaVA model from plain transformers parts; save and load it as a local checkpoint.

The model is transformers' own ``LlavaForConditionalGeneration`` (vision tower + projector + LM composed,
not subclassed), so a saved base or a merged export loads with plain transformers and no imax code.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoProcessor,
    AutoTokenizer,
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    ProcessorMixin,
)

from imax.model.tokenizer import IMAGE_TOKEN, check_tokenizer, special_id
from imax.schema.config.model import ModelConfig
from imax.schema.errors import ImaxError, MissingPathError


def llava_config(cfg: ModelConfig, tokenizer: PreTrainedTokenizerFast) -> LlavaConfig:
    """The ``LlavaConfig`` of ``cfg`` with vocabulary and special ids taken from ``tokenizer``."""
    v, t = cfg.vision, cfg.text
    if v.image_size % v.patch_size:
        raise ValueError(f"image_size {v.image_size} is not a multiple of patch_size {v.patch_size}")
    vision = CLIPVisionConfig(
        num_channels=v.num_channels,
        image_size=v.image_size,
        patch_size=v.patch_size,
        hidden_size=v.hidden_size,
        num_hidden_layers=v.num_layers,
        num_attention_heads=v.num_heads,
        intermediate_size=v.intermediate_size,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=t.hidden_size,
        num_hidden_layers=t.num_layers,
        num_attention_heads=t.num_heads,
        num_key_value_heads=t.num_kv_heads,
        intermediate_size=t.intermediate_size,
        max_position_embeddings=t.max_position_embeddings,
        rope_theta=t.rope_theta,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    n_image = (v.image_size // v.patch_size) ** 2 + (cfg.vision_feature_select_strategy == "full")
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=special_id(tokenizer, IMAGE_TOKEN),
        image_seq_length=n_image,
        projector_hidden_act=cfg.projector_hidden_act,
        multimodal_projector_bias=True,
        vision_feature_select_strategy=cfg.vision_feature_select_strategy,
        vision_feature_layer=cfg.vision_feature_layer,
        tie_word_embeddings=False,
    )


def build_model(cfg: ModelConfig, tokenizer: PreTrainedTokenizerFast) -> LlavaForConditionalGeneration:
    """Randomly initialise the (tiny) LLaVA model of ``cfg`` for ``tokenizer`` (fp32, seeded by cfg.seed).

    Input ``pixel_values`` are ``(B, num_channels, image_size, image_size)``; each image fills
    :func:`num_image_tokens` consecutive ``<image>`` positions of ``input_ids`` ``(B, L)``.
    The vision tower's ``post_layernorm`` is frozen (unused by LLaVA); everything else is trainable.
    """
    check_tokenizer(tokenizer)
    config = llava_config(cfg, tokenizer)
    # fork_rng: seeding must not disturb the caller's global RNG stream (sampler, dropout).
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = LlavaForConditionalGeneration(config)
    _set_generation_ids(model, tokenizer)
    freeze_unused(model)
    return model.float()


def freeze_unused(model: LlavaForConditionalGeneration) -> None:
    """Freeze the vision tower's ``post_layernorm``, the one parameter LLaVA never reads.

    LLaVA takes the tower's ``hidden_states``, which come BEFORE ``post_layernorm``, so that norm never gets
    a gradient. Freezing it keeps "every trainable parameter gets a gradient" true (DDP requires it).
    """
    for name, module in model.model.vision_tower.named_modules():
        if name.split(".")[-1] == "post_layernorm":
            module.requires_grad_(False)


def _set_generation_ids(model: LlavaForConditionalGeneration, tokenizer: PreTrainedTokenizerFast) -> None:
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    gen.eos_token_id = tokenizer.eos_token_id


CLS_TOKENS: dict[str, int] = {"clip_vision_model": 1, "siglip_vision_model": 0}
"""Extra (CLS) tokens each known vision tower puts before its patch tokens (transformers ``model_type``)."""


def num_image_tokens(model: torch.nn.Module) -> int:
    """``<image>`` positions one image fills: (image_size / patch_size)² patches, plus the tower's CLS
    token (CLIP: 1, SigLIP: none), minus 1 under the "default" strategy (which drops the first token).

    Accepts a plain LLaVA model or a PEFT wrapper of one (anything with a ``LlavaConfig`` as ``.config``).
    """
    config = model.config
    vision = config.vision_config
    cls = CLS_TOKENS.get(getattr(vision, "model_type", ""))
    if cls is None:
        raise ValueError(f"unknown vision tower {vision.model_type!r}: known {sorted(CLS_TOKENS)}")
    # floor: the patch conv drops a remainder (SigLIP-so400m: 384 px / patch 14 → 27² = 729 patches)
    n = (vision.image_size // vision.patch_size) ** 2 + cls
    strategy = config.vision_feature_select_strategy
    if strategy == "full":
        return n
    if strategy == "default":
        return n - 1
    raise ValueError(f"unknown vision_feature_select_strategy {strategy!r}")


def image_processor_for(
    model: torch.nn.Module,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    resample: int = 2,
) -> CLIPImageProcessor:
    """The image processor of a model imax composed itself (:func:`build_model`): CLIP's, at the tower's
    side and channel count (``do_convert_rgb`` only for 3 channels), mean/std 0.5 per channel unless
    given (the tiny tower is trained from scratch on that scale), bilinear resampling (``resample``, a
    PIL code). Published checkpoints ship their own."""
    vision = model.config.vision_config
    c, side = int(vision.num_channels), int(vision.image_size)
    mean = tuple(mean) if mean is not None else (0.5,) * c
    std = tuple(std) if std is not None else (0.5,) * c
    if len(mean) != c or len(std) != c:
        raise ValueError(f"mean/std need {c} values (one per input channel), got {mean}, {std}")
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


def save_base(
    model: LlavaForConditionalGeneration,
    tokenizer: PreTrainedTokenizerBase,
    path: Path,
    processor: ProcessorMixin | None = None,
) -> Path:
    """Write ``model`` (safetensors + config.json), ``tokenizer`` and its processor (image processor
    config, processor config, chat template) to the local directory ``path`` — the layout of a published
    llava-hf checkpoint, which ``AutoProcessor`` + ``LlavaForConditionalGeneration`` load as is.

    ``processor``: the checkpoint's own (pass the base's when saving a fine-tune of it); None builds
    :func:`make_processor` (for models composed by :func:`build_model`).
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    processor = processor if processor is not None else make_processor(model, tokenizer)
    processor.save_pretrained(path)
    return path


PROCESSOR_FILES: tuple[str, ...] = ("processor_config.json", "preprocessor_config.json")
"""Files that mark a directory holding a processor (transformers 5 nests the image processor in the
first; published llava-hf checkpoints ship the second)."""


def _has_processor(path: Path) -> bool:
    return any((path / name).is_file() for name in PROCESSOR_FILES)


def processor_dir(path: Path) -> Path:
    """The directory holding the processor of ``path``: ``path`` itself (a base, a merged export), its
    ``model/`` (a full fine-tune checkpoint) or the base named by ``path/base.json`` (a LoRA checkpoint)."""
    path = Path(path)
    for candidate in (path, path / "model"):
        if _has_processor(candidate):
            return candidate
    pointer = path / "base.json"
    if pointer.is_file():
        data = json.loads(pointer.read_text())
        value = data.get("path", data.get("base")) if isinstance(data, dict) else data
        if isinstance(value, str) and _has_processor(Path(value)):
            return Path(value)
    raise MissingPathError(
        f"{str(path)!r} has no {PROCESSOR_FILES[0]} (nor model/ or base.json leading to one): a LLaVA checkpoint "
        "needs its processor (processor.save_pretrained); rebuild a tiny base with `imax pretrain`"
    )


def load_processor(path: Path, model: torch.nn.Module | None = None) -> ProcessorMixin:
    """The checkpoint's own processor (``AutoProcessor``, local files only) for the checkpoint at ``path``
    (see :func:`processor_dir`); with ``model``, checked against it: image token id, input side,
    channels and image-token count must agree, else :class:`ImaxError` naming the mismatch."""
    where = processor_dir(path)
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


def model_config_of(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, like: ModelConfig | None = None
) -> ModelConfig:
    """``like`` (LoRA settings, seed) with the shape fields set to what ``model`` really is: the tower's
    image side, patch, channels and size, the language model's size, the tokenizer's vocabulary, the
    feature strategy and layer. Recorded in a run's config.yaml instead of the tiny defaults."""
    like = like if like is not None else ModelConfig()
    config = model.config
    v, t = config.vision_config, config.text_config
    rope = getattr(t, "rope_theta", None) or (getattr(t, "rope_parameters", None) or {}).get("rope_theta")
    layer = config.vision_feature_layer
    return replace(
        like,
        vision=replace(
            like.vision, image_size=int(v.image_size), patch_size=int(v.patch_size),
            num_channels=int(v.num_channels), hidden_size=int(v.hidden_size), num_layers=int(v.num_hidden_layers),
            num_heads=int(v.num_attention_heads), intermediate_size=int(v.intermediate_size),
        ),
        text=replace(
            like.text, hidden_size=int(t.hidden_size), num_layers=int(t.num_hidden_layers),
            num_heads=int(t.num_attention_heads),
            num_kv_heads=int(getattr(t, "num_key_value_heads", None) or t.num_attention_heads),
            intermediate_size=int(t.intermediate_size),
            max_position_embeddings=int(getattr(t, "max_position_embeddings", like.text.max_position_embeddings)),
            rope_theta=float(rope if rope is not None else like.text.rope_theta),
        ),
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        vision_feature_layer=int(layer) if isinstance(layer, int) else like.vision_feature_layer,
        projector_hidden_act=str(config.projector_hidden_act),
        vocab_size=len(tokenizer),
    )  # fmt: skip


def load_base(path: Path) -> tuple[LlavaForConditionalGeneration, PreTrainedTokenizerFast]:
    """Load a LOCAL LLaVA-format directory (``save_base`` layout); never downloads.

    Raises :class:`MissingPathError` naming the path when it or its config/tokenizer files are missing.
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingPathError(
            f"base model directory {str(path)!r} does not exist (expected a local "
            "LLaVA checkpoint written by imax pretrain / save_base)"
        )
    for name in ("config.json", "tokenizer.json"):
        if not (path / name).is_file():
            raise MissingPathError(
                f"base model directory {str(path)!r} has no {name}: not a LLaVA "
                "checkpoint written by save_base"
            )
    model = LlavaForConditionalGeneration.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    freeze_unused(model)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ImaxError(f"{path}: the tokenizer needs a pad token distinct from eos (batched generation masks pads)")
    return model, tokenizer
