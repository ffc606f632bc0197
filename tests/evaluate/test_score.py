"""score_predictions with the real task table: perfect answers score perfectly; garbage is a counted
parse failure with zero credit and never borrows another sample's answer."""

from __future__ import annotations

import json

import pytest

from imax.evaluate.score import compare_runs, parse_predictions, score_predictions
from imax.tasks import TASKS

REFS = {
    "calculation": ({"measure": "ctr"}, {"value": 0.55}),
    "report": ({}, {"text": "Mild cardiomegaly. No pleural effusion."}),
    "multiclass": ({"label_space": "edema_severity"}, {"grade": 2}),
    "multilabel": ({"label_space": "chexpert14"}, {"labels": ["Cardiomegaly", "Pleural Effusion"]}),
    "rec": ({"phrase": "heart", "size": [200, 100]}, {"box": [60.0, 40.0, 140.0, 90.0], "size": [200, 100]}),
    "reg": ({"box": [60.0, 40.0, 140.0, 90.0], "size": [200, 100]}, {"phrase": "heart"}),
    "vqa": (
        {"question": "Is there an effusion?", "content_type": "presence", "semantic_type": "verify"},
        {"answers": ["yes"]},
    ),
}


def _pred(task: str, image: str, output: str | None = None) -> dict:
    query, answer = REFS[task]
    text = TASKS[task].format_answer(query, answer) if output is None else output
    # query/reference as JSON strings, the way predictions.jsonl and entries.parquet carry them
    return {
        "id": f"{image}:{task}:0",
        "dicom_id": image,
        "task": task,
        "query": json.dumps(query),
        "reference": json.dumps(answer),
        "output": text,
    }


def test_perfect_predictions_score_perfectly():
    preds = [_pred(t, f"img{i}") for i in range(3) for t in TASKS]
    m = score_predictions(preds, TASKS, meteor=False, n_bootstrap=20, seed=0)
    for task in TASKS:
        assert m[task]["parse_failure_rate"] == 0.0
        assert m["scores"][task] == pytest.approx(1.0), task
    assert m["calculation"]["mae"] == pytest.approx(0.0)
    assert m["multitask_average"] == pytest.approx(1.0)
    assert m["ci"]["multitask_average"] == pytest.approx([1.0, 1.0])
    assert "report/meteor" in m["unavailable"] and m["report"]["meteor"] is None


@pytest.mark.parametrize("task", ["calculation", "multiclass", "multilabel", "rec", "vqa", "report"])
def test_garbage_is_counted_and_gets_no_credit(task):
    # Report and VQA answers are free text: only an empty answer is unreadable there.
    garbage = "" if task in ("report", "vqa") else "%%% qwerty ###"
    # Both images have the same reference; the first answers right, the second writes garbage. A
    # scorer that patched the garbage from its neighbour (CheXbench-style) would report a perfect score.
    preds = [_pred(task, "a"), _pred(task, "b", output=garbage)]
    m = score_predictions(preds, TASKS, meteor=False, n_bootstrap=0)
    assert m[task]["parse_failures"] == 1
    assert m[task]["parse_failure_rate"] == pytest.approx(0.5)
    primary = m["primary"][task]
    if task == "calculation":
        assert primary["value"] == pytest.approx(0.5)  # errors 0 and 1 (the unparsed charge)
    elif task in ("multilabel", "report"):
        assert primary["value"] < 1.0  # the garbage sample's positives are all missed
    else:
        assert primary["value"] == pytest.approx(0.5)
    parsed = parse_predictions(preds, TASKS)
    assert parsed[1]["parsed"] is None and parsed[1]["parse_status"] == "unparseable"
    assert parsed[0]["parse_status"] == "ok"


def test_multilabel_garbage_f1_hand_computed():
    preds = [_pred("multilabel", "a"), _pred("multilabel", "b", output="zzz")]
    m = score_predictions(preds, TASKS, meteor=False, n_bootstrap=0)
    # Cardiomegaly and Pleural Effusion: tp 1, fn 1 each → F1 2/3 each; macro = micro = 2/3
    assert m["multilabel"]["macro_f1"] == pytest.approx(2 / 3)
    assert m["multilabel"]["micro_f1"] == pytest.approx(2 / 3)


def test_a_crashing_parser_is_a_parse_failure():
    from dataclasses import replace

    def boom(text, query):
        raise RuntimeError("bad parser")

    tasks = dict(TASKS, vqa=replace(TASKS["vqa"], parse_answer=boom))
    parsed = parse_predictions([_pred("vqa", "a")], tasks)
    assert parsed[0]["parsed"] is None and parsed[0]["parse_status"].startswith("parser_error")
    m = score_predictions([_pred("vqa", "a")], tasks, meteor=False, n_bootstrap=0)
    assert m["vqa"]["accuracy"] == 0.0 and m["vqa"]["parse_failure_rate"] == 1.0


def test_stored_parsed_field_is_not_trusted():
    p = _pred("vqa", "a", output="garbage answer") | {"parsed": {"answers": ["yes"]}}
    assert score_predictions([p], TASKS, meteor=False, n_bootstrap=0)["vqa"]["accuracy"] == 0.0


def test_calculation_per_measure_and_cardiomegaly():
    preds = [_pred("calculation", "a"), _pred("calculation", "b", output="0.45")]
    cpar = _pred("calculation", "c", output="0.30")
    cpar["query"], cpar["reference"] = json.dumps({"measure": "cpar"}), json.dumps({"value": 0.33})
    m = score_predictions([*preds, cpar], TASKS, meteor=False, n_bootstrap=0)["calculation"]
    assert m["ctr/mae"] == pytest.approx(0.05) and m["cpar/mae"] == pytest.approx(0.03)
    assert m["cardiomegaly_accuracy"] == pytest.approx(0.5)  # 0.55 → yes (right); 0.45 → no (wrong)


def test_calculation_threshold_comes_from_the_task_table(monkeypatch):
    """The cardiomegaly decision is the calculation spec's ``decision_thresholds``, not a constant in the
    scorer: moving it to CPAR at 0.31 scores CPAR's 0.30 vs 0.33 as a miss and CTR gets no decision."""
    import dataclasses

    spec = dataclasses.replace(TASKS["calculation"], decision_thresholds={"cpar": 0.31})
    monkeypatch.setitem(TASKS, "calculation", spec)
    cpar = _pred("calculation", "c", output="0.30")
    cpar["query"], cpar["reference"] = json.dumps({"measure": "cpar"}), json.dumps({"value": 0.33})
    m = score_predictions([_pred("calculation", "a"), cpar], TASKS, meteor=False, n_bootstrap=0)["calculation"]
    assert m["cardiomegaly_accuracy"] == 0.0 and m["cpar/cardiomegaly_accuracy"] == 0.0
    assert "ctr/cardiomegaly_accuracy" not in m


def test_compare_runs_paired_gains():
    good = [_pred(t, f"img{i}") for i in range(6) for t in ("multiclass", "vqa")]
    bad = [
        _pred(t, f"img{i}", output="garbage" if i % 2 else None)
        for i in range(6)
        for t in ("multiclass", "vqa")
    ]
    out = compare_runs(good, bad, TASKS, n_bootstrap=200, seed=3)
    # A: 1.0 on both tasks; B: 0.5 on both → each relative change +100%, and of the mean too.
    assert out["mean_of_relative_changes"]["value"] == pytest.approx(1.0)
    assert out["relative_change_of_mean"]["value"] == pytest.approx(1.0)
    lo, hi = out["relative_change_of_mean"]["ci"]
    assert 0.0 <= lo <= 1.0 <= hi  # A is never worse than B on any draw
    assert compare_runs(good, bad, TASKS, n_bootstrap=200, seed=3) == out  # deterministic


def test_meteor_failure_and_plugins_never_crash():
    from imax.evaluate.score import score_tasks

    class DeadMeteor:
        def score(self, hyps, refs):
            raise RuntimeError("METEOR process ended unexpectedly")

    class FakeScorer:
        name = "fake"

        def score(self, hyps, refs):
            return {"fake_f1": 0.5}

    res = score_tasks(
        [_pred("report", "a")],
        TASKS,
        meteor=DeadMeteor(),
        plugins=[FakeScorer()],
        plugin_unavailable={"chexbert": "no local weights given"},
    )["report"]
    assert res.metrics["meteor"] is None and "ended unexpectedly" in res.unavailable["meteor"]
    assert res.metrics["fake_f1"] == 0.5  # a working plug-in's metrics join the report's
    assert (
        res.metrics["chexbert_f1_micro"] is None and res.unavailable["chexbert"] == "no local weights given"
    )
    assert res.metrics["ce_f1_micro"] == 1.0
