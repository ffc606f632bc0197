"""Controls beside a model: trivial-baseline predictions scored like a model's, the shuffled-image pairing
(a seeded derangement within the test split), paired differences and the minimum detectable effect."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imax.evaluate.controls import (
    MDE_FACTOR,
    control_block,
    derangement,
    minimum_detectable_effect,
    paired_difference,
    score_control,
    shuffle_images,
    trivial_predictions,
)
from imax.evaluate.score import score_tasks
from imax.tasks import TASKS


def _entry(i: int, task: str, query: dict, answer: dict, split: str = "test", image: int | None = None) -> dict:
    img = i if image is None else image
    return {"id": f"e{i}:{task}", "dicom_id": f"img{img:03d}", "task": task, "split": split,
            "query": json.dumps(query), "answer": json.dumps(answer), "image": f"files/img{img:03d}.jpg",
            "instruction": TASKS[task].render_instruction(query)}


def test_trivial_predictions_are_formatted_parsed_and_scored_like_a_model():
    train = [_entry(i, "multiclass", {}, {"grade": g}, "train") for i, g in enumerate((2, 2, 1, 0))]
    train += [_entry(10 + i, "rec", {"phrase": "heart"}, {"box": b, "size": [100, 100]}, "train")
              for i, b in enumerate(([30, 40, 70, 80], [34, 44, 74, 84]))]
    test = [_entry(20 + i, "multiclass", {}, {"grade": g}) for i, g in enumerate((2, 1, 2, 3))]
    test += [_entry(30, "rec", {"phrase": "heart", "size": [200, 200]}, {"box": [64, 84, 144, 164], "size": [200, 200]}),
             _entry(31, "rec", {"phrase": "heart", "size": [200, 200]}, {"box": [0, 0, 40, 40], "size": [200, 200]})]
    preds, n_train = trivial_predictions(train, test, TASKS)
    assert n_train == {"multiclass": 4, "rec": 2}
    assert [p["output"] for p in preds[:4]] == ["2: interstitial edema"] * 4
    assert preds[4]["output"] == preds[5]["output"] == "{<32><42><72><82>}"  # mean box on the 100 grid
    assert [p["id"] for p in preds] == [e["id"] for e in test] and preds[4]["reference"]["size"] == [200, 200]
    results = score_tasks(preds)
    assert results["multiclass"].metrics["accuracy"] == pytest.approx(0.5)
    assert results["rec"].metrics["acc_iou50"] == pytest.approx(0.5)  # hits the first, misses the corner box
    assert results["rec"].metrics["mean_iou"] == pytest.approx(0.5 * 1.0)  # IoU 1 (grid-exact) and 0


def test_a_task_without_train_examples_gets_an_unparseable_answer():
    test = [_entry(0, "vqa", {"question": "Is there edema?"}, {"answers": ["yes"]})]
    preds, n_train = trivial_predictions([], test, TASKS)
    assert preds[0]["output"] == "" and n_train == {"vqa": 0}
    assert score_tasks(preds)["vqa"].parse_failures == 1


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_derangement_has_no_fixed_point_and_is_seeded(n):
    for seed in range(20):
        perm = derangement(n, seed)
        assert sorted(perm.tolist()) == list(range(n)) and not (perm == np.arange(n)).any()
        assert np.array_equal(perm, derangement(n, seed))
    if n > 3:
        assert len({tuple(derangement(n, s)) for s in range(20)}) > 1


def test_derangement_needs_two_images():
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1, 0)


def test_shuffled_images_come_from_the_test_split_and_never_the_own():
    entries = [_entry(i, task, {}, {"grade": 0}, image=i // 3) for i in range(30) for task in ("multiclass",)]
    shuffled, shown = shuffle_images(entries, seed=3)
    own_images = {e["dicom_id"]: e["image"] for e in entries}
    assert set(shown) == set(own_images) and sorted(shown.values()) == sorted(own_images)  # a permutation
    for before, after in zip(entries, shuffled, strict=True):
        assert after["dicom_id"] == before["dicom_id"] and after["id"] == before["id"]  # scored as its own prompt
        assert after["shown_dicom_id"] != before["dicom_id"]
        assert after["image"] == own_images[after["shown_dicom_id"]] != before["image"]
    # Every prompt of one image is shown the same other image; the pairing is fixed by the seed.
    assert len({(a["dicom_id"], a["shown_dicom_id"]) for a in shuffled}) == 10
    assert shuffle_images(entries, seed=3) == (shuffled, shown)
    assert shuffle_images(entries, seed=4)[1] != shown


def _multiclass_preds(correct: np.ndarray, tag: str) -> list[dict]:
    """One multiclass prompt per image; image i answered right when ``correct[i]``."""
    return [{"id": f"{tag}{i}", "dicom_id": f"img{i:03d}", "task": "multiclass", "query": {}, "reference": {"grade": 1},
             "output": "1" if ok else "3"} for i, ok in enumerate(correct)]


def test_paired_difference_detects_a_large_effect_and_gives_its_mde():
    rng = np.random.default_rng(0)
    model = rng.random(200) < 0.8
    control = model & (rng.random(200) < 0.6)  # the control loses ~40% of the model's hits, never gains
    block = score_control([_multiclass_preds(model, "m")], [_multiclass_preds(control, "c")], n_bootstrap=400)
    avg = block["multitask_average"]
    assert avg["diff"] == pytest.approx(model.mean() - control.mean())
    assert avg["diff_ci"][0] > 0 and avg["diff_se"] > 0 and block["above_zero"] == ["multiclass"]
    # SE of a paired difference of proportions: sqrt(p_discordant / n) (no hit is gained by the control).
    assert avg["diff_se"] == pytest.approx(np.sqrt(avg["diff"] * (1 - avg["diff"]) / 200), rel=0.2)
    assert minimum_detectable_effect(avg["diff_se"]) == pytest.approx(MDE_FACTOR * avg["diff_se"])
    task = block["tasks"]["multiclass"]
    assert task["value"] == pytest.approx(control.mean()) and task["score"] == pytest.approx(control.mean())
    assert task["score_ci"][0] < task["score"] < task["score_ci"][1]


def test_identical_runs_differ_by_exactly_zero():
    hits = np.random.default_rng(1).random(60) < 0.5
    block = score_control([_multiclass_preds(hits, "a")], [_multiclass_preds(hits, "b")], n_bootstrap=200)
    assert block["multitask_average"]["diff"] == 0.0 and block["multitask_average"]["diff_ci"] == [0.0, 0.0]
    assert block["multitask_average"]["diff_se"] == 0.0 and block["above_zero"] == []


def test_seeds_are_averaged_inside_each_draw():
    rng = np.random.default_rng(2)
    a = [rng.random(80) < 0.7 for _ in range(3)]
    b = [rng.random(80) < 0.5 for _ in range(3)]
    pairs = [(score_tasks(_multiclass_preds(x, "a")), score_tasks(_multiclass_preds(y, "b"))) for x, y in zip(a, b, strict=True)]
    boot = paired_difference(pairs, n_bootstrap=300)
    assert boot["diff/multitask_average"]["value"] == pytest.approx(np.mean([x.mean() - y.mean() for x, y in zip(a, b, strict=True)]))
    one = paired_difference(pairs[:1], n_bootstrap=300)
    assert boot["diff/multitask_average"]["se"] < one["diff/multitask_average"]["se"]  # three seeds: less noise


def test_a_paired_comparison_needs_one_test_set():
    a = score_tasks(_multiclass_preds(np.ones(5, bool), "a"))
    b = score_tasks(_multiclass_preds(np.ones(6, bool), "b"))
    with pytest.raises(ValueError, match="different images"):
        control_block([a], [b])
