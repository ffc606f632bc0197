"""imax.model.compose: the forward split at the frozen vision tower gives the model's own forward."""

from __future__ import annotations

import pytest
import torch

from imax.model import apply_lora, image_inputs, llava_core, num_image_tokens, vision_features
from imax.schema.config.model import LoraSettings

from .conftest import batch


@pytest.mark.parametrize("wrap", [False, True])
def test_features_back_in_give_the_pixel_forward(model, tokenizer, wrap):
    m = apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0)) if wrap else model
    b = batch(tokenizer, num_image_tokens(m))
    feats = vision_features(m, b["pixel_values"])
    assert feats.shape == (2, num_image_tokens(m), 32)  # (B, n_image, vision width)
    common = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}
    ref = m(**common, pixel_values=b["pixel_values"]).logits
    got = m(**common, **image_inputs(m, feats)).logits
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    # the projector is applied in the graph: its parameters get gradients through the features path
    m(**common, **image_inputs(m, feats)).logits.sum().backward()
    projector = llava_core(m).model.multi_modal_projector
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in projector.parameters())


def test_feature_count_mismatch_is_transformers_own_error(model, tokenizer):
    b = batch(tokenizer, num_image_tokens(model), n_ids=num_image_tokens(model) - 1)
    feats = vision_features(model, b["pixel_values"])
    with pytest.raises(Exception, match="Image features and image tokens do not match"):
        model(input_ids=b["input_ids"], **image_inputs(model, feats))


def test_not_a_llava_model():
    assert llava_core(torch.nn.Linear(2, 2)) is None
    with pytest.raises(TypeError, match="not a LLaVA model"):
        vision_features(torch.nn.Linear(2, 2), torch.zeros(1, 1, 4, 4))
