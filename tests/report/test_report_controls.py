"""The report's controls: the positive-control verdict decides the headline; trivial baselines, shuffled
images and the rec mean box per region are shown beside every run, numbers straight from the JSON."""

from __future__ import annotations

import copy
import re
from pathlib import Path

from imax.report import controls, tables, write_report


def _headline(page: str) -> str:
    m = re.search(r'<div class="answer[^"]*" id="plain-answer">(.*?)</div>', page)
    assert m, "no headline"
    return m.group(1)


def test_detected_control_keeps_the_plain_answer_and_states_the_detection(report):
    _, written = report
    page = written["html"].read_text()
    assert _headline(page).startswith("IMAX beats DMAX on ")
    verdict = re.search(r'id="control-verdict">(.*?)</div>', page)
    assert verdict and verdict.group(1).startswith("Positive control detected")
    assert "+0.021 (95% CI [+0.009, +0.033])" in verdict.group(1) and "0.012" in verdict.group(1)


def test_undetected_control_makes_the_headline_underpowered(results, tmp_path: Path):
    weak = copy.deepcopy(results)
    weak["control"].update(detected=False, difference={"value": 0.004, "ci": [-0.006, 0.014], "se": 0.005},
                           minimum_detectable_effect=0.014)
    written = write_report(weak, tmp_path / "weak")
    head = _headline(written["html"].read_text())
    assert head.startswith("Underpowered: the positive control") and "No IMAX/DMAX conclusion" in head
    assert "[-0.006, +0.014]" in head and "0.014" in head
    md = written["md"].read_text()
    assert "**Underpowered:" in md and "For the record only: IMAX beats DMAX" in md


def test_no_control_no_verdict(results):
    del results["control"]
    assert controls.control_verdict(results) is None
    assert controls.positive_control(results) is None


def test_the_control_gets_no_gain_column(report):
    results, _ = report
    header = " ".join(tables.per_task(results).header)
    assert "DMAX ½ (control)" in header  # its scores are shown
    assert "DMAX ½ (control) vs DMAX" not in header and "IMAX vs DMAX" in header


def test_trivial_baseline_and_shuffled_cells_come_from_the_json(report):
    results, written = report
    page = written["html"].read_text()
    assert 'id="controls"' in page
    for key in ("trivial_baseline", "shuffled_image"):
        table = controls.control_scores(results, key)
        assert table is not None and len(table.rows) == 8  # seven tasks + the multi-task average
        c = results["runs"]["imax"][key]["tasks"]["multilabel"]
        cell = table.rows[3][2].text  # multilabel row, IMAX column
        assert cell.startswith(f"{c['score']:.3f} [{c['score_ci'][0]:.3f}, {c['score_ci'][1]:.3f}]")
        assert f"Δ {c['diff']:+.3f} [{c['diff_ci'][0]:+.3f}, {c['diff_ci'][1]:+.3f}]" in cell
        assert "better" in table.rows[3][2].cls  # its diff CI lies above 0
    rules = controls.control_scores(results, "trivial_baseline").rows[0][0].text
    assert "median train value per measure" in rules


def test_rec_mean_box_per_region(report):
    results, _ = report
    table = controls.per_target(results)
    assert table is not None and "IMAX train" in table.header[3]
    rows = {(r[0].text, r[1].text, r[2].text): r for r in table.rows}
    assert rows[("rec", "heart", "acc_iou75")][3].text == "0.410"
    assert rows[("rec", "left lung", "mean_iou")][3].text == "0.740"
    assert {k[2] for k in rows if k[0] == "rec"} == {"mean_iou", "acc_iou50", "acc_iou75"}


def test_summary_counts_the_tasks_beating_the_baseline(report):
    results, written = report
    table = controls.summary(results)
    assert table is not None and [r[0].text for r in table.rows] == ["IMAX", "DMAX", "pseudo-IMAX", "DMAX ½ (control)"]
    beaten = results["runs"]["imax"]["trivial_baseline"]["above_zero"]
    assert table.rows[0][1].text == f"{len(beaten)} of 7"
    d = results["runs"]["imax"]["shuffled_image"]["multitask_average"]
    assert table.rows[0][3].text == f"{d['diff']:+.3f} [{d['diff_ci'][0]:+.3f}, {d['diff_ci'][1]:+.3f}]"
    assert "What the models learned" in written["html"].read_text()


def _below_baselines(results, imax_ci=(-0.099, -0.058), dmax_ci=(0.004, 0.031)):
    low = copy.deepcopy(results)
    for run, ci in (("imax", imax_ci), ("dmax", dmax_ci)):
        block = low["runs"][run]["trivial_baseline"]
        block["multitask_average"].update(diff=(ci[0] + ci[1]) / 2, diff_ci=list(ci))
        block["above_zero"] = ["multilabel"] if ci[0] <= 0 else block["above_zero"]
    return low


def test_arms_below_their_trivial_baselines_block_the_conclusion_even_with_a_detected_control(results,
                                                                                             tmp_path: Path):
    low = _below_baselines(results)
    assert low["control"]["detected"] is True
    written = write_report(low, tmp_path / "low")
    page = written["html"].read_text()
    head = _headline(page)
    assert head.startswith("Not learned: the models do not beat their trivial baselines")
    assert "IMAX -0.079 [-0.099, -0.058], 1 of 7 tasks above their baseline" in head
    assert "DMAX -" not in head and "DMAX +" not in head  # DMAX is above its baselines: only IMAX is named
    assert "No IMAX/DMAX conclusion" not in head and "no IMAX/DMAX conclusion is drawn" in head
    assert re.search(r'id="control-verdict">Positive control detected', page)
    assert "For the record only: IMAX beats DMAX" in page
    md = written["md"].read_text()
    assert "**Not learned:" in md and "For the record only: IMAX beats DMAX" in md
    assert "For the record only: pseudo-IMAX beats DMAX" in md and "For the record only: pseudo-IMAX" in page


def test_arms_above_their_baselines_keep_the_plain_answer(results):
    assert controls.learning_verdict(results) is None
    assert controls.headline(results) == ([], [controls.control_verdict(results)[0]])
    # a CI touching 0 is not above it
    touching = _below_baselines(results, imax_ci=(0.0, 0.02))
    assert controls.learning_verdict(touching) is not None


def test_both_blocks_are_stated_when_the_control_is_missed_and_the_arms_are_below(results):
    low = _below_baselines(results, dmax_ci=(-0.06, -0.04))
    low["control"].update(detected=False)
    blocking, notes = controls.headline(low)
    assert [b.split(":")[0] for b in blocking] == ["Underpowered", "Not learned"] and notes == []
    assert "IMAX -0.079" in blocking[1] and "DMAX -0.050 [-0.060, -0.040]" in blocking[1]
