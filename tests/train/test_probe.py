"""Linear probes: IoU on hand-computed boxes; regression probes separate informative features from noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imax.schema.records import REGIONS
from imax.train.probe import _measures, _regions, box_iou
from imax.train.vision import FINDINGS, VisionTargets


def test_box_iou_hand_computed():
    pred = np.array([[0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 2, 2], [1, 1, 1, 3], [2, 0, 0, 2]], dtype=float) / 4
    truth = np.array([[1, 1, 3, 3], [0, 0, 1, 1], [3, 3, 4, 4], [0, 0, 2, 2], [0, 0, 2, 2]], dtype=float) / 4
    # degenerate (a line) and inverted (x2 < x1) predictions score 0
    assert box_iou(pred, truth) == pytest.approx([1 / 7, 1.0, 0.0, 0.0, 0.0])


def _targets(n: int, rng: np.random.Generator, latent: np.ndarray) -> VisionTargets:
    """Measures and boxes that are linear in ``latent`` (N, 3); one region left unknown (NaN)."""
    ctr = 0.4 + 0.1 * latent[:, 0]
    cpar = 0.2 + 0.05 * latent[:, 1]
    boxes = np.full((n, 4 * len(REGIONS)), np.nan, dtype=np.float32)
    for k in range(len(REGIONS) - 1):
        cx, cy, w = 0.5 + 0.05 * latent[:, 2], 0.5 + 0.02 * latent[:, 0], 0.3 + 0.02 * latent[:, 1]
        boxes[:, 4 * k : 4 * k + 4] = np.stack([cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2], 1)
    return VisionTargets(images=[f"i{j}" for j in range(n)], subjects=np.arange(n), pixels=torch.zeros(n, 1, 4, 4),
                         anatomy=torch.zeros(n, 3, 2, 2), anatomy_known=torch.zeros(n, dtype=torch.bool),
                         lesions=torch.zeros(n, 1, 2, 2), findings=torch.zeros(n, len(FINDINGS)),
                         edema=torch.zeros(n, dtype=torch.long),
                         measures=torch.tensor(np.stack([ctr, cpar], 1), dtype=torch.float32),
                         boxes=torch.tensor(boxes))


def test_regression_probes_tell_informative_features_from_noise():
    rng = np.random.default_rng(0)
    latent = {s: rng.normal(size=(n, 3)) for s, n in (("train", 120), ("test", 60))}
    t = {s: _targets(len(z), rng, z) for s, z in latent.items()}
    mix = rng.normal(size=(3, 16))
    feats = {"pretrained": {s: z @ mix + 0.01 * rng.normal(size=(len(z), 16)) for s, z in latent.items()},
             "initial": {s: rng.normal(size=(len(z), 16)) for s, z in latent.items()}}
    measures = _measures(feats, t)
    assert measures["ctr"]["pretrained"]["r2"] > 0.99 and measures["ctr"]["initial"]["r2"] < 0.1
    assert measures["cpar"]["pretrained"]["mae"] < 0.005
    regions = _regions(feats, t)
    assert regions[REGIONS[0]]["pretrained"]["mean_iou"] > 0.95
    assert regions[REGIONS[0]]["initial"]["mean_iou"] < regions[REGIONS[0]]["pretrained"]["mean_iou"] - 0.2
    # the mean train box is reported beside the probes: the prior a located feature must beat
    assert regions[REGIONS[0]]["mean_train_box"]["mean_iou"] < regions[REGIONS[0]]["pretrained"]["mean_iou"]
    assert regions[REGIONS[-1]] == {"train_images": 0, "test_images": 0, "note": "too few images with this box"}
