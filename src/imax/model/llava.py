"""Compose the LLaVA model from plain transformers parts, and read a loaded model's settings back.

The model is transformers' own ``LlavaForConditionalGeneration`` (vision tower + projector + LM composed,
not subclassed), so a saved base or a merged export loads with plain transformers and no imax code.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    PreTrainedTokenizerFast,
)

from imax.model.tokenizer import IMAGE_TOKEN, check_tokenizer, special_id
from imax.schema.config.model import ModelConfig


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


def settings_of(model: LlavaForConditionalGeneration, tokenizer: PreTrainedTokenizerFast, base: ModelConfig) -> ModelConfig:
    """The :class:`ModelConfig` that describes a LOADED model: vision / text shapes, feature layer and
    strategy, projector activation and vocabulary read from its config and tokenizer (``base`` supplies
    the fields a config does not hold: LoRA settings and the init seed). A run's config.yaml records
    this, not the tiny defaults, when it trains a given base."""
    from dataclasses import replace

    config = model.config
    v, t = config.vision_config, config.text_config
    layer = config.vision_feature_layer
    heads = t.num_attention_heads
    return replace(
        base,
        vision=replace(
            base.vision,
            image_size=int(v.image_size),
            patch_size=int(v.patch_size),
            num_channels=int(getattr(v, "num_channels", base.vision.num_channels)),
            hidden_size=int(v.hidden_size),
            num_layers=int(v.num_hidden_layers),
            num_heads=int(v.num_attention_heads),
            intermediate_size=int(v.intermediate_size),
        ),
        text=replace(
            base.text,
            hidden_size=int(t.hidden_size),
            num_layers=int(t.num_hidden_layers),
            num_heads=int(heads),
            num_kv_heads=int(getattr(t, "num_key_value_heads", None) or heads),
            intermediate_size=int(t.intermediate_size),
            max_position_embeddings=int(t.max_position_embeddings),
            rope_theta=float(_rope_theta(t, base.text.rope_theta)),
        ),
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        vision_feature_layer=int(layer) if isinstance(layer, int) else base.vision_feature_layer,
        projector_hidden_act=str(config.projector_hidden_act),
        vocab_size=len(tokenizer),
    )


def _rope_theta(text_config: Any, default: float) -> float:
    theta = getattr(text_config, "rope_theta", None)
    if theta is None:  # transformers 5 keeps it in rope_parameters
        params = getattr(text_config, "rope_parameters", None) or {}
        theta = params.get("rope_theta") if isinstance(params, dict) else None
    return float(theta) if theta is not None else default
