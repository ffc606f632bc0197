"""Which boxes the gallery and the record browser draw comes from the task table (``answer_box`` /
``query_box``), so a registered task with a box answer is drawn with no report change."""

from __future__ import annotations

import dataclasses
import json

from imax.report.assets import QUERY_COLOUR, TRUTH_COLOUR
from imax.report.browse import _overlays
from imax.report.gallery import entry_overlays
from imax.tasks import TASKS, registered

BOX = {"box": [10.0, 20.0, 50.0, 60.0], "size": [100, 100]}
PRED = {"box": [12.0, 22.0, 48.0, 58.0], "size": [100, 100]}


def test_gallery_draws_box_answers_and_dashed_query_boxes() -> None:
    rec = {"task": "rec", "query": {"phrase": "heart"}, "reference_answer": BOX,
           "predictions": {"imax": {"parsed": PRED}}}
    truth, pred = entry_overlays(rec, ["imax"], (100, 100))
    assert truth.colour == TRUTH_COLOUR and not truth.dashed and pred.box.x1 == 12.0
    reg = {"task": "reg", "query": BOX, "reference_answer": {"phrase": "heart"},
           "predictions": {"imax": {"parsed": {"phrase": "heart"}}}}
    (question,) = entry_overlays(reg, ["imax"], (100, 100))
    assert question.dashed and question.colour == QUERY_COLOUR and question.label == "reg query"
    report = {"task": "report", "query": {}, "reference_answer": {"text": "x"}, "predictions": {}}
    assert entry_overlays(report, ["imax"], (100, 100)) == []


def test_browser_labels_boxes_from_the_spec() -> None:
    rows = [
        {"task": "rec", "query": json.dumps({"phrase": "heart"}), "answer": json.dumps(BOX), "provenance": "real"},
        {"task": "reg", "query": json.dumps(BOX), "answer": json.dumps({"phrase": "Left Lung"})},
        {"task": "vqa", "query": json.dumps({"question": "q"}), "answer": json.dumps({"answers": ["yes"]})},
    ]
    rec, reg = _overlays(rows)
    assert (rec.label, rec.dashed) == ("heart", False)
    assert (reg.label, reg.dashed) == ("reg: left lung", True)


def test_a_registered_box_task_is_drawn_without_report_changes() -> None:
    lesion = dataclasses.replace(TASKS["rec"], name="lesion", token="[lesion]")
    entry = {"task": "lesion", "query": {"phrase": "nodule"}, "reference_answer": BOX,
             "predictions": {"imax": {"parsed": PRED}}}
    assert len(entry_overlays(entry, ["imax"], (100, 100))) == 1  # unknown task: its truth box only
    with registered(lesion):
        assert len(entry_overlays(entry, ["imax"], (100, 100))) == 2  # and the run's box
        (ov,) = _overlays([{"task": "lesion", "query": json.dumps({"phrase": "nodule"}), "answer": json.dumps(BOX)}])
        assert ov.label == "nodule"
