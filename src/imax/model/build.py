"""Compose the LLaVA model from plain transformers parts; save and load it as a local checkpoint.

The model is transformers' own ``LlavaForConditionalGeneration`` (vision tower + projector + LM composed,
not subclassed), so a saved base or a merged export loads with plain transformers and no imax code.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoTokenizer,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    PreTrainedTokenizerFast,
)

from imax.model.tokenizer import IMAGE_TOKEN, check_tokenizer, special_id
from imax.schema.config.model import ModelConfig
from imax.schema.errors import MissingPathError


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


def num_image_tokens(model: torch.nn.Module) -> int:
    """``<image>`` positions one image fills: (image_size / patch_size)^2, +1 with the "full" strategy.

    Accepts a plain LLaVA model or a PEFT wrapper of one (anything with a ``LlavaConfig`` as ``.config``).
    """
    config = model.config
    vision = config.vision_config
    if vision.image_size % vision.patch_size:
        raise ValueError(
            f"image_size {vision.image_size} is not a multiple of patch_size {vision.patch_size}"
        )
    n = (vision.image_size // vision.patch_size) ** 2
    strategy = config.vision_feature_select_strategy
    if strategy == "full":
        return n + 1
    if strategy == "default":
        return n
    raise ValueError(f"unknown vision_feature_select_strategy {strategy!r}")


def save_base(model: LlavaForConditionalGeneration, tokenizer: PreTrainedTokenizerFast, path: Path) -> Path:
    """Write ``model`` (safetensors + config.json) and ``tokenizer`` to the local directory ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


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
    check_tokenizer(tokenizer)
    if model.config.image_token_index != special_id(tokenizer, IMAGE_TOKEN):
        raise ValueError(
            f"{path}: config image_token_index {model.config.image_token_index} is not the "
            f"tokenizer's {IMAGE_TOKEN} id {special_id(tokenizer, IMAGE_TOKEN)}"
        )
    return model, tokenizer
