"""The positive control's verdict on synthetic paired scores: detected only when the parent is better with
a CI above 0; the minimum detectable effect is 2.8 bootstrap SEs of the paired difference."""

from __future__ import annotations

import numpy as np
import pytest

from imax.experiment.aggregate import control_summary

STATS = {"per_split": {"train": {"per_task_entries": {"multiclass": 100, "vqa": 60}}}}
HALF = {"per_split": {"train": {"per_task_entries": {"multiclass": 50, "vqa": 30}}}}


def preds(correct: np.ndarray, tag: str) -> list[dict]:
    return [{"id": f"{tag}{i}", "dicom_id": f"img{i:03d}", "task": "multiclass", "query": {}, "reference": {"grade": 2},
             "output": "2" if ok else "0"} for i, ok in enumerate(correct)]


def summary(parent: list[np.ndarray], control: list[np.ndarray]) -> dict:
    return control_summary("dmax_half", "dmax", [preds(p, "p") for p in parent], [preds(c, "c") for c in control],
                           STATS, HALF, 0.5, n_bootstrap=400)


def test_a_clear_handicap_is_detected():
    rng = np.random.default_rng(0)
    parent = rng.random(300) < 0.7
    s = summary([parent], [parent & (rng.random(300) < 0.7)])
    assert s["detected"] is True and s["direction"] == "parent better"
    assert s["difference"]["ci"][0] > 0
    assert s["minimum_detectable_effect"] == pytest.approx(2.8 * s["difference"]["se"])
    assert 0 < s["minimum_detectable_effect"] < s["difference"]["value"]
    assert s["train_volume"]["ratio"] == pytest.approx(0.5) and s["n_seeds"] == 1
    assert "DMAX" in s["handicap"] and "steps" in s["held_equal"]


def test_no_difference_is_not_detected():
    rng = np.random.default_rng(1)
    a = rng.random(300) < 0.6
    b = a.copy()
    # 10 of a's hits become misses and 10 of its misses hits: same score, 20 discordant images.
    b[rng.choice(np.flatnonzero(a), 10, replace=False)] = False
    b[rng.choice(np.flatnonzero(~a), 10, replace=False)] = True
    s = summary([a], [b])
    assert s["difference"]["value"] == 0.0
    assert s["detected"] is False and s["difference"]["ci"][0] < 0 < s["difference"]["ci"][1]
    assert s["minimum_detectable_effect"] > 0


def test_a_better_control_is_not_a_detection():
    rng = np.random.default_rng(2)
    control = rng.random(300) < 0.8
    s = summary([control & (rng.random(300) < 0.5)], [control])
    assert s["detected"] is False and s["direction"] == "control better"


def test_seeds_share_the_draws():
    rng = np.random.default_rng(3)
    parents = [rng.random(200) < 0.7 for _ in range(3)]
    s = summary(parents, [p & (rng.random(200) < 0.8) for p in parents])
    assert s["n_seeds"] == 3 and s["detected"] is True


def test_arm_controls_over_seeds_rescore_the_saved_control_predictions(tmp_path):
    import json

    from imax.evaluate.controls import score_control
    from imax.experiment.aggregate import arm_controls

    rng = np.random.default_rng(4)
    model = [preds(rng.random(50) < 0.8, "m") for _ in range(2)]
    baseline = [preds(rng.random(50) < 0.4, "b") for _ in range(2)]
    dirs, per_seed = [], []
    for s in range(2):
        d = tmp_path / f"seed{s}"
        d.mkdir()
        (d / "baseline_predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in baseline[s]))
        block = score_control([model[s]], [baseline[s]], n_bootstrap=50)
        block["rule"] = {"multiclass": "majority train edema grade"}
        per_seed.append({"trivial_baseline": block, "shuffled_image": {"unavailable": "fewer than two test images"}})
        dirs.append(d)
    out = arm_controls(per_seed, dirs, model, n_bootstrap=200)
    tb = out["trivial_baseline"]
    assert tb["n_seeds"] == 2 and tb["rule"] == {"multiclass": "majority train edema grade"}
    expected = np.mean([per_seed[s]["trivial_baseline"]["multitask_average"]["diff"] for s in range(2)])
    assert tb["multitask_average"]["diff"] == pytest.approx(expected)
    assert tb["above_zero"] == ["multiclass"]
    assert out["shuffled_image"] == {"unavailable": "fewer than two test images"}
    # One seed: the evaluation's own block, untouched.
    assert arm_controls(per_seed[:1], dirs[:1], model[:1], 200)["trivial_baseline"] == per_seed[0]["trivial_baseline"]
