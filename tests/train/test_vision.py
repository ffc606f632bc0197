"""Vision-tower pretraining on dense truth targets of a phantom pool: targets match the truth, the loss
falls, only the tower moves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from imax.data import ImageSpec
from imax.model import build_model, train_tokenizer
from imax.tasks import TASK_TOKENS
from imax.train.vision import (
    ANATOMY,
    FINDINGS,
    LESIONS,
    lesion_channel,
    pool_split,
    pretrain_vision,
    vision_targets,
)

from .conftest import tiny_model

GREY32 = ImageSpec(size=32, mean=(0.5,), std=(0.5,))
"""The tiny tower's pixels: one grey channel at 32 px, scaled to [-1, 1]."""


def test_targets_follow_the_truth(pool_phantom):
    t = vision_targets(pool_phantom, GREY32, 4)
    truth = pd.read_parquet(pool_phantom / "truth.parquet")
    frontal = truth[truth["frontal"]].reset_index(drop=True)
    n = len(frontal)
    assert len(t.images) == n and t.pixels.shape == (n, 1, 32, 32) and t.anatomy.shape == (n, len(ANATOMY), 4, 4)
    assert t.lesions.shape == (n, len(LESIONS), 4, 4)
    known = t.anatomy_known.numpy()
    assert known.sum() >= n - 3  # only CheXmask rows under the quality cut are left out
    a = t.anatomy[torch.from_numpy(known)]
    assert float(a.sum(1).max()) <= 1.0 + 1e-6 and float(a.min()) >= 0.0  # disjoint masks: fractions
    # the patient's right lung lies on the image left, the left lung on the image right
    cols = torch.arange(4, dtype=torch.float32)
    right_x = (a[:, 0].sum(1) * cols).sum(1) / a[:, 0].sum((1, 2))
    left_x = (a[:, 1].sum(1) * cols).sum(1) / a[:, 1].sum((1, 2))
    assert bool((right_x < left_x).all())
    for i, row in frontal.iterrows():
        assert t.findings[i, FINDINGS.index("Cardiomegaly")] == float("Cardiomegaly" in row["labels"])
        assert int(t.edema[i]) == int(row["edema_grade"])
        channels = {lesion_channel(k) for k in json.loads(row["finding_boxes"])} - {None}
        drawn = {LESIONS[c] for c in range(len(LESIONS)) if float(t.lesions[i, c].sum()) > 0}
        assert drawn == channels
    assert np.allclose(t.measures[:, 0].numpy(), frontal["ctr"].to_numpy(float), equal_nan=True)


def test_pool_split_keeps_patients_whole():
    subjects = np.repeat(np.arange(50), 3)
    held = pool_split(subjects, 0.2, seed=0)
    assert 0.05 < held.mean() < 0.4
    for s in range(50):
        assert len(set(held[subjects == s].tolist())) == 1


def test_pretraining_lowers_the_loss_and_moves_only_the_tower(pool_phantom):
    tok = train_tokenizer(["heart normal", "lungs clear"], list(TASK_TOKENS), 300)
    model = build_model(tiny_model(), tok)
    t = vision_targets(pool_phantom, GREY32, 4)
    lm_before = {n: p.clone() for n, p in model.model.language_model.named_parameters()}
    tower_before = {n: p.clone() for n, p in model.model.vision_tower.named_parameters()}
    losses = pretrain_vision(model, t, epochs=10, batch_size=8, lr=3e-3, seed=0)
    assert len(losses) >= 8 and losses[-1] < losses[0]
    assert all(torch.equal(p, lm_before[n]) for n, p in model.model.language_model.named_parameters())
    assert any(not torch.equal(p, tower_before[n]) for n, p in model.model.vision_tower.named_parameters())
