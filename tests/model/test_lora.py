from __future__ import annotations

import pytest
import torch

from imax.model import (
    LoraTargetError,
    TrainableSetError,
    apply_lora,
    check_trainable,
    num_image_tokens,
    trainable_parameter_names,
)
from imax.schema.config.model import LoraSettings

from .conftest import batch

LM = "base_model.model.model.language_model.layers"
PROJ = "base_model.model.model.multi_modal_projector.modules_to_save.default"


def expected_names(n_layers: int) -> list[str]:
    names = [
        f"{LM}.{i}.{block}.{proj}.lora_{ab}.default.weight"
        for i in range(n_layers)
        for block, projs in (
            ("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")),
            ("mlp", ("gate_proj", "up_proj", "down_proj")),
        )
        for proj in projs
        for ab in ("A", "B")
    ]
    names += [f"{PROJ}.linear_{k}.{w}" for k in (1, 2) for w in ("weight", "bias")]
    return sorted(names)


def test_exact_trainable_set(model):
    peft = apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    names = trainable_parameter_names(peft)
    assert names == expected_names(2)
    assert len(names) == 2 * 7 * 2 + 4
    assert not any("vision_tower" in n for n in names)
    # r * (in + out) per adapted linear; full projector copy (32→32→32, with biases).
    h, m, r = 32, 48, 4
    per_layer = 4 * r * (h + h) + 2 * r * (h + m) + r * (m + h)
    projector = (32 * 32 + 32) + (32 * 32 + 32)
    assert sum(p.numel() for p in peft.parameters() if p.requires_grad) == 2 * per_layer + projector


def test_grads_only_on_trainable(model, tokenizer):
    peft = apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():  # B starts at 0 (so A's grad would be 0): make every adapter live
        for n, p in peft.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02, generator=torch.Generator().manual_seed(1))
    peft.train()
    out = peft(**batch(tokenizer, num_image_tokens(peft)))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    trainable = set(trainable_parameter_names(peft))
    for name, p in peft.named_parameters():
        if name in trainable:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name


def test_check_trainable_rejects_vision_and_base_lm_weights(model):
    peft = apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    check_trainable(peft)
    vision = next(p for n, p in peft.named_parameters() if "vision_tower" in n)
    vision.requires_grad_(True)
    with pytest.raises(TrainableSetError, match="vision tower must stay frozen"):
        check_trainable(peft)
    vision.requires_grad_(False)
    base_q = next(p for n, p in peft.named_parameters() if n.endswith("q_proj.base_layer.weight"))
    base_q.requires_grad_(True)
    with pytest.raises(TrainableSetError, match="only LoRA A/B"):
        check_trainable(peft)


def test_suffix_targets_would_hit_vision_and_are_refused(model):
    # A suffix list also matches CLIP's q/k/v_proj (peft#2615): apply_lora must refuse it before wrapping,
    # naming the regex and the vision modules it reached.
    regex = r".*\.(q_proj|v_proj)"
    with pytest.raises(LoraTargetError) as exc:
        apply_lora(model, LoraSettings(r=4, alpha=8, target_regex=regex))
    msg = str(exc.value)
    assert repr(regex) in msg and "model.vision_tower.encoder.layers.0.self_attn.q_proj" in msg
    assert "\n" not in msg
    assert not any(".lora_" in n for n, _ in model.named_parameters())  # nothing was wrapped


def test_target_regex_matching_no_lm_linear_is_refused(model):
    with pytest.raises(LoraTargetError, match="selects no linear layer"):
        apply_lora(model, LoraSettings(r=4, alpha=8, target_regex=r".*language_model.*\.no_such_proj"))
    with pytest.raises(LoraTargetError, match="not a valid regex"):
        apply_lora(model, LoraSettings(r=4, alpha=8, target_regex=r"(unclosed"))
