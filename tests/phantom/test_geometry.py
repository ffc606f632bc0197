"""The phantom's anatomy varies as real radiographs do (issue 15, part 2; docs/phantom-geometry.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from imax.phantom import anatomy
from imax.phantom.geometry import box_statistics, iou_rows


def test_lung_boxes_spread_like_real_radiographs(phantom200: Path):
    stats = box_statistics(pd.read_parquet(phantom200 / "truth.parquet"))
    assert stats["images"] > 300
    for lung in ("left lung", "right lung"):
        r = stats["regions"][lung]
        # real: corner std 4-10 % of the side, mean-box IoU 0.69-0.76 (the 435 radiographs)
        assert all(0.04 <= s <= 0.10 for s in r["std"]), (lung, r["std"])
        assert 0.65 <= r["mean_box_iou"] <= 0.80, (lung, r["mean_box_iou"])
        # the mean box is no longer a near-perfect answer at the stricter threshold
        assert r["acc_iou_0.75"] < 0.6, (lung, r)
    heart = stats["regions"]["heart"]
    assert heart["mean_box_iou"] < 0.75 and min(heart["std"]) > 0.025


def test_ctr_distribution_kept_and_ap_magnified(phantom200: Path):
    ctr = box_statistics(pd.read_parquet(phantom200 / "truth.parquet"))["ctr"]
    pa, ap = ctr["PA"], ctr["AP"]
    # PA: mostly normal hearts with a cardiomegaly tail; the pose (scale, shift, small rotation) must not
    # move a ratio of widths
    assert 0.44 <= pa["mean"] <= 0.50 and 0.05 <= pa["sd"] <= 0.10
    assert 0.15 <= pa["above_0.5"] <= 0.35
    assert ap["mean"] > pa["mean"] + 0.03  # AP magnifies the heart


def test_pose_maps_masks_and_boxes_together():
    g = {"scale": 1.1, "rot": 5.0, "tx": 0.03, "ty": -0.02}
    m = anatomy.pose_matrix(g)
    centre = anatomy.posed(np.array([[0.5, 0.5]]), m)[0]
    assert np.allclose(centre, [0.53, 0.48])
    # a pure scale about the centre scales box sides; identity pose leaves everything alone
    box = anatomy.posed_box([64.0, 64.0, 192.0, 192.0], anatomy.pose_matrix({"scale": 0.5}), 256)
    assert box == [96.0, 96.0, 160.0, 160.0]
    assert np.allclose(anatomy.pose_matrix({}), [[1, 0, 0], [0, 1, 0]])
    assert anatomy.posed_box([0.0, 0.0, 10.0, 10.0], anatomy.pose_matrix({"tx": -0.5}), 256) is None


def test_iou_rows():
    b = np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6]], dtype=float)
    assert np.allclose(iou_rows(b, np.array([0, 0, 2, 2.0])), [1.0, 1 / 7, 0.0])
