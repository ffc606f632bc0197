"""The LLaVA forward split at the frozen vision tower: features out, projected features back in.

LLaVA computes ``projector(select(vision_tower(pixels)))`` inside every forward. With the tower frozen,
``select(vision_tower(pixels))`` is a fixed function of the image, so it can be computed once per image
and reused (imax.train's vision-feature cache; the Fisher's per-sample route). :func:`vision_features`
is that part, picked as ``LlavaModel.get_image_features`` picks it (``vision_feature_layer``, one or
several concatenated; the CLS token dropped under the "default" strategy). :func:`image_inputs` turns
such features into the ``mm_encoder_outputs`` transformers' LLaVA forward accepts in place of
``pixel_values``, applying the (trainable) projector in the graph, so placement at the ``<image>``
tokens and its count check stay transformers' own.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling


def llava_core(model: nn.Module) -> nn.Module | None:
    """The ``LlavaForConditionalGeneration`` inside ``model`` (PEFT- or DDP-wrapped or not), else None."""
    core = getattr(model, "module", model)  # DistributedDataParallel
    core = core.get_base_model() if hasattr(core, "get_base_model") else core
    inner = getattr(core, "model", None)
    if all(hasattr(inner, a) for a in ("vision_tower", "multi_modal_projector", "language_model")):
        return core
    return None


def _core(model: nn.Module) -> nn.Module:
    core = llava_core(model)
    if core is None:
        raise TypeError(f"{type(model).__name__} is not a LLaVA model (no vision_tower / projector / LM)")
    return core


def vision_features(model: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """Selected, pre-projector vision features: pixel_values (B, C, S, S) → (B, n_image, D), with D the
    vision width (times the number of feature layers when several are concatenated)."""
    core = _core(model)
    cfg = core.config
    layer, strategy = cfg.vision_feature_layer, cfg.vision_feature_select_strategy
    out = core.model.vision_tower(pixel_values, output_hidden_states=True, return_dict=True)
    hidden = [out.hidden_states[i] for i in ([layer] if isinstance(layer, int) else layer)]
    if strategy == "default":
        hidden = [h[:, 1:] for h in hidden]  # drop CLS, as LLaVA does
    return torch.cat(hidden, dim=-1)


def image_inputs(model: nn.Module, features: torch.Tensor) -> dict[str, dict[str, BaseModelOutputWithPooling]]:
    """Forward keyword arguments that give the model ``features`` (B, n_image, D) from
    :func:`vision_features` instead of pixels: ``{"mm_encoder_outputs": {"image": ...}}`` holding the
    projected features, one (n_image, H) tensor per image, as ``get_image_features`` returns them."""
    projected = _core(model).model.multi_modal_projector(features)
    return {"mm_encoder_outputs": {"image": BaseModelOutputWithPooling(pooler_output=list(projected))}}
