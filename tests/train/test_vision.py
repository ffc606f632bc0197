"""Supervised vision-tower pretraining: targets come from the pool's annotations, the loss falls."""

from __future__ import annotations

import math

import torch

from imax.data import ImageSpec
from imax.model import build_model, train_tokenizer
from imax.tasks import TASK_TOKENS
from imax.train.vision import FINDINGS, pretrain_vision, vision_targets

from .conftest import tiny_model


def test_targets_follow_the_annotations(tiny_data):
    t = vision_targets(tiny_data, ("train",), ImageSpec(size=32, mean=(0.5,), std=(0.5,), resample=2))
    assert len(t.images) == 6 and t.pixels.shape == (6, 1, 32, 32)
    card = FINDINGS.index("Cardiomegaly")
    # odd images carry "Cardiomegaly, Pleural Effusion", even ones "No Finding" (see conftest RESPONSES)
    odd = [i for i, p in enumerate(t.images) if int(p.split("img")[1].split(".")[0]) % 2]
    assert t.findings[odd, card].tolist() == [1.0] * len(odd)
    assert bool(t.findings_mask.all())
    assert (t.edema == -1).all()  # no multiclass entries: unknown, never a made-up grade
    assert not math.isnan(float(t.measures[0, 0])) and math.isnan(float(t.measures[0, 1]))  # ctr yes, cpar no


def test_pretraining_lowers_the_loss_and_moves_only_the_tower(tiny_data):
    tok = train_tokenizer(["heart normal", "lungs clear"], list(TASK_TOKENS), 300)
    torch.manual_seed(0)
    model = build_model(tiny_model(), tok)
    lm_before = {n: p.clone() for n, p in model.model.language_model.named_parameters()}
    tower_before = {n: p.clone() for n, p in model.model.vision_tower.named_parameters()}
    losses = pretrain_vision(model, tiny_data, epochs=12, batch_size=4, lr=2e-3, seed=0)
    assert len(losses) >= 10 and losses[-1] < losses[0]
    assert all(torch.equal(p, lm_before[n]) for n, p in model.model.language_model.named_parameters())
    assert any(not torch.equal(p, tower_before[n]) for n, p in model.model.vision_tower.named_parameters())
