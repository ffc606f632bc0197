"""Golden values for the pure metric functions; every expected number is worked out by hand below."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imax.evaluate.metrics import (
    box_ious,
    calculation_metrics,
    confusion_matrix,
    multiclass_metrics,
    multilabel_metrics,
    quadratic_weighted_kappa,
    ranking_metrics,
    rec_metrics,
    reg_metrics,
    vqa_metrics,
)
from imax.schema.box import Box


# ---- calculation ----------------------------------------------------------------------------------
def test_calculation_hand_computed():
    pred = np.array([0.50, np.nan, 0.60, 0.40])  # second answer unparsed
    true = np.array([0.48, 0.55, 0.52, 0.45])
    m = calculation_metrics(pred, true, threshold=0.5)
    # |err| = 0.02, 1.0 (unparsed: the full ratio range), 0.08, 0.05
    assert m["mae"] == pytest.approx((0.02 + 1.0 + 0.08 + 0.05) / 4)  # 0.2875
    assert m["rmse"] == pytest.approx(math.sqrt((0.0004 + 1.0 + 0.0064 + 0.0025) / 4))
    assert m["acc_within_0.05"] == pytest.approx(0.5)  # 0.02 and 0.05 (inclusive) are within
    assert m["mae_parsed"] == pytest.approx(0.05)  # (0.02 + 0.08 + 0.05) / 3
    # CTR > 0.5: true [F, T, T, F]; pred [F, wrong class = F, T, F] → 3/4 right; tp 1, fn 1 → F1 2/3
    assert m["cardiomegaly_accuracy"] == pytest.approx(0.75)
    assert m["cardiomegaly_f1"] == pytest.approx(2 / 3)


def test_calculation_perfect_and_empty():
    v = np.array([0.3, 0.7])
    m = calculation_metrics(v, v, threshold=0.5)
    assert m["mae"] == 0 and m["acc_within_0.05"] == 1 and m["cardiomegaly_f1"] == 1
    assert math.isnan(calculation_metrics(np.array([]), np.array([]))["mae"])


# ---- classification -------------------------------------------------------------------------------
def test_quadratic_kappa_hand_computed():
    # pred [0,1,1,1] vs true [0,0,1,1]: O(0,0)=1, O(1,0)=1, O(1,1)=2; Σw·O = 1/9.
    # Marginals pred (1,3), true (2,2): E = [[.5,.5],[1.5,1.5]]; Σw·E = (0.5+1.5)/9 = 2/9 → κ = 1 − 1/2.
    assert quadratic_weighted_kappa(np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 4) == pytest.approx(0.5)
    assert quadratic_weighted_kappa(np.arange(4), np.arange(4), 4) == pytest.approx(1.0)
    # Complete reversal 0↔3, 1↔2 is worse than chance.
    assert quadratic_weighted_kappa(np.arange(4), np.arange(4)[::-1], 4) == pytest.approx(-1.0)
    assert math.isnan(quadratic_weighted_kappa(np.zeros(3, int), np.zeros(3, int), 4))


def test_quadratic_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    want = cohen_kappa_score(a, b, weights="quadratic", labels=[0, 1, 2, 3])
    assert quadratic_weighted_kappa(a, b, 4) == pytest.approx(want)


def test_multiclass_unparsed_is_wrong():
    pred, true = np.array([0, 1, 1, -1]), np.array([0, 0, 1, 1])
    m = multiclass_metrics(pred, true)
    assert m["accuracy"] == pytest.approx(0.5)
    # class 0: tp1 fn1 → 2/3; class 1: tp1 fp1 fn1 → 1/2; classes 2, 3 never seen → left out.
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    cm = confusion_matrix(pred, true, 4)
    assert cm.shape == (4, 5) and cm[1, 4] == 1 and cm.sum() == 4  # last column: unparsed
    # Kappa: the unparsed answer (truth 1) takes the farthest grade 3.
    assert m["quadratic_kappa"] == pytest.approx(quadratic_weighted_kappa(np.array([0, 1, 1, 3]), true, 4))


def test_multilabel_hand_computed():
    pred = [{"A", "B"}, None, {"C"}]
    true = [{"A"}, {"B"}, {"C"}]
    m = multilabel_metrics(pred, true, ["A", "B", "C", "D"])
    # A: tp1 → 1; B: fp1 fn1 → 0; C: tp1 → 1; D: undefined (NaN, left out of the macro)
    assert m["f1/A"] == 1 and m["f1/B"] == 0 and math.isnan(m["f1/D"])
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["micro_f1"] == pytest.approx(4 / 6)  # tp 2, fp 1, fn 1
    assert m["example_accuracy"] == pytest.approx(1 / 3)


def test_ranking_metrics():
    truth = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], bool)
    perfect = truth.astype(float)
    assert ranking_metrics(perfect, truth) == {"map": 1.0, "auroc": 1.0}
    assert ranking_metrics(1 - perfect, truth)["auroc"] == 0.0


# ---- grounding ------------------------------------------------------------------------------------
def _b(x1, y1, x2, y2):
    return Box(x1, y1, x2, y2, 100, 100)


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        (_b(10, 10, 50, 50), _b(10, 10, 50, 50), 1.0),  # identical
        (_b(0, 0, 10, 10), _b(20, 20, 30, 30), 0.0),  # disjoint
        (_b(0, 0, 10, 10), _b(10, 0, 20, 10), 0.0),  # touching along an edge: no area shared
        (_b(0, 0, 100, 100), _b(25, 25, 75, 75), 0.25),  # contained: 50² / 100²
        (_b(0, 0, 10, 10), _b(5, 0, 15, 10), 1 / 3),  # half overlap: 50 / 150
        (_b(5, 5, 5, 5), _b(5, 5, 5, 5), 1.0),  # degenerate, identical points
        (_b(5, 5, 5, 5), _b(0, 0, 10, 10), 0.0),  # degenerate point inside a box: zero area shared
    ],
)
def test_iou_edge_cases(a, b, iou):
    assert box_ious([a], [b])[0] == pytest.approx(iou)


def test_iou_is_scale_invariant_and_unparsed_is_zero():
    a = Box(10, 10, 50, 50, 100, 100)
    assert box_ious([a.rescaled(200, 400)], [a])[0] == pytest.approx(1.0)
    assert box_ious([None], [a])[0] == 0.0


def test_rec_metrics_per_target():
    m = rec_metrics(np.array([1.0, 0.5, 0.49, 0.0]), ["heart", "heart", "left lung", "left lung"])
    assert m["acc_iou50"] == pytest.approx(0.5)  # IoU ≥ 0.5 counts (inclusive)
    assert m["mean_iou"] == pytest.approx(1.99 / 4)
    assert m["heart/acc_iou50"] == 1.0 and m["left lung/acc_iou50"] == 0.0
    assert m["left lung/mean_iou"] == pytest.approx(0.245)
    assert m["acc_iou75"] == pytest.approx(0.25) and m["heart/acc_iou75"] == 0.5  # only the IoU-1 box
    assert rec_metrics(np.array([]), [])["acc_iou75"] != rec_metrics(np.array([]), [])["acc_iou75"]  # NaN


def test_reg_metrics():
    m = reg_metrics(["The heart.", None, "left lung"], ["heart", "right lung", "right lung"])
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert 0 < m["rouge_l"] < 1 and "bleu_4" in m


# ---- vqa ------------------------------------------------------------------------------------------
def test_vqa_set_match_by_type():
    pred = [["Yes"], ["left lung", "right lung"], None, ["no"]]
    true = [["yes"], ["right lung", "left lung"], ["yes"], ["yes"]]
    m = vqa_metrics(
        pred, true, ["presence", "anatomy", "presence", "presence"], ["verify", "query", "verify", "verify"]
    )
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["content/anatomy/accuracy"] == 1.0
    assert m["content/presence/accuracy"] == pytest.approx(1 / 3)
    assert m["semantic/verify/accuracy"] == pytest.approx(1 / 3)
