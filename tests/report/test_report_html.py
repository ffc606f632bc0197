"""write_report: sections, numbers straight from the JSON, a plain answer that matches them, no network."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from imax.report import numbers as nb
from imax.report import tables, write_report
from imax.schema.errors import ImaxError, MissingPathError
from imax.schema.records import TASK_NAMES

from .report_fakes import assert_self_contained, draw_xray, make_results

SECTION_IDS = ("results", "controls", "dataset", "fisher", "loss", "pseudo", "gallery", "details")

def test_writes_all_outputs_and_sections(report):
    _, written = report
    assert {"html", "md", "results", "plot:radar", "plot:fisher", "plot:loss"} <= set(written)
    for path in written.values():
        assert path.is_file() and path.stat().st_size > 0
    assert json.loads(written["results"].read_text())["preset"] == "quick"
    page = written["html"].read_text()
    for sid in SECTION_IDS:
        assert f'id="{sid}"' in page
    assert "not run" not in page  # every section has data in the full fake
    assert_self_contained(page)
    # Three plots plus gallery images (2 present × (main + rec + reg thumbs)); the missing one is a placeholder.
    assert page.count('src="data:image/png;base64,') == 3
    assert page.count('src="data:image/jpeg;base64,') == 2 * 3
    assert page.count('class="missing main"') == 1 and "missing image" in page


def test_plain_answer_matches_the_numbers(report):
    results, written = report
    page = written["html"].read_text()
    # Independent count: primary metric, oriented by higher_is_better, strict win.
    wins = 0
    for task in TASK_NAMES:
        spec = results["primary_metrics"][task]
        a = results["runs"]["imax"]["metrics"][task][spec["name"]]
        b = results["runs"]["dmax"]["metrics"][task][spec["name"]]
        wins += (a > b) if spec["higher_is_better"] else (a < b)
    assert wins == 5  # the fake is built so: imax loses multiclass and vqa
    x, y = (results["runs"][r]["multitask_average"] for r in ("imax", "dmax"))
    g = results["gains"]["imax_vs_dmax"]
    lo, hi = g["relative_of_mean_ci"]
    expected = (f"IMAX beats DMAX on {wins} of 7 tasks; multi-task average {x:.3f} vs {y:.3f} "
                f"(gain {g['relative_of_mean'] * 100:+.1f}%, 95% CI [{lo * 100:+.1f}%, {hi * 100:+.1f}%]).")
    assert nb.plain_answer(results) == expected
    assert f'<div class="answer" id="plain-answer">{expected}</div>' in page
    assert expected in written["md"].read_text()


def test_plain_answer_does_not_spin_a_loss(results):
    worse = copy.deepcopy(results)
    worse["runs"]["imax"], worse["runs"]["dmax"] = worse["runs"]["dmax"], worse["runs"]["imax"]
    del worse["gains"]
    sentence = nb.plain_answer(worse)
    assert sentence.startswith("IMAX beats DMAX on 2 of 7 tasks;")
    x, y = worse["runs"]["imax"]["multitask_average"], worse["runs"]["dmax"]["multitask_average"]
    assert f"gain {(x / y - 1) * 100:+.1f}%" in sentence and "gain -" in sentence
    assert "no CI (computed from the two averages)" in sentence


def test_numbers_from_the_json_appear(report):
    results, written = report
    page = written["html"].read_text()
    rec = results["runs"]["imax"]["metrics"]["rec"]["acc_iou50"]
    lo, hi = results["runs"]["imax"]["metrics_ci"]["rec"]["acc_iou50"]
    assert f"{rec:.3f}" in page and f"[{lo:.3f}, {hi:.3f}]" in page
    assert f"{results['gains']['imax_vs_dmax']['per_task']['multilabel'] * 100:+.1f}%" in page
    assert "25,870" in page  # pseudo_imax entries in dataset stats
    assert "77.5%" in page  # calculation kept fraction in the pseudo-label table
    late = results["runs"]["imax"]["fisher"][-1]
    assert f"{late['se']:.4f}" in page and f"{late['rho']:.4f}" in page
    assert "15 min 12 s" in page and "seeds 0, 1, 2" in page
    assert "unparseable" in page  # a DMAX calculation answer the parser could not read


def test_best_cell_follows_orientation(results):
    t = tables.per_task(results)
    assert t is not None
    by_task = {row[0].text: row for row in t.rows}
    # calculation (mae, lower is better): the best cell is the smallest mean.
    calc = by_task["calculation"]
    means = {r: results["runs"][r]["metrics"]["calculation"]["mae"] for r in ("imax", "dmax", "pseudo_imax")}
    best_run = min(means, key=means.get)
    best_cells = [i for i, c in enumerate(calc[2:5]) if "best" in c.cls]
    assert best_cells == [("imax", "dmax", "pseudo_imax").index(best_run)]
    # vqa: DMAX is best; multiclass: pseudo-IMAX is best.
    assert "best" in by_task["vqa"][3].cls and "best" in by_task["multiclass"][4].cls
    assert "↓" in calc[1].text and "↑" in by_task["rec"][1].text


def test_missing_sections_say_not_run(tmp_path: Path):
    written = write_report({}, tmp_path / "empty")
    page = written["html"].read_text()
    assert page.count("not run") >= 7
    assert "IMAX vs DMAX: not run (missing run: imax, dmax)." in page
    assert not any(k.startswith("plot:") for k in written)
    assert_self_contained(page)


def test_partial_results_never_crash(results, tmp_path: Path):
    partial = copy.deepcopy(results)
    del partial["runs"]["pseudo_imax"], partial["pseudo_label_quality"], partial["gains"]
    for run in partial["runs"].values():
        run.pop("fisher")
    partial["runs"]["imax"]["metrics"]["vqa"] = {}
    partial["runs"]["dmax"]["metrics"]["rec"]["mean_iou"] = None  # rec's primary
    partial["gallery"][0]["entries"][4]["predictions"]["imax"]["parsed"] = {"box": "garbage"}
    partial["dataset_stats"]["imax"]["images"] = "n/a"
    partial["gallery"] += [{"dicom_id": "no-entries", "entries": None}, "junk"]
    page = write_report(partial, tmp_path / "partial")["html"].read_text()
    assert "Fisher spectra: not run." in page and "Pseudo labelling: not run." in page
    per_task = tables.per_task(partial)
    assert per_task is not None and not any("pseudo" in h for h in per_task.header)
    sentence = nb.plain_answer(partial)
    assert sentence.startswith("IMAX beats DMAX on ") and " of 5 tasks;" in sentence
    assert "*" in page  # gains computed here are flagged


@pytest.fixture
def light(results) -> dict:
    """The full fake with gallery images pointing nowhere: the fuzz tests below check structure, and
    skipping ~80 thumbnail encodes keeps them fast on a shared machine."""
    out = copy.deepcopy(results)
    for item in out["gallery"]:
        item["image_path"] = "/nonexistent/image.jpg"
    return out


@pytest.mark.parametrize("drop", ["preset", "seeds", "wall_seconds", "created", "config", "primary_metrics", "runs",
                                  "gains", "dataset_stats", "pseudo_label_quality", "gallery"])
def test_any_top_level_key_may_be_missing_or_garbage(light, drop: str):
    from imax.report.html import render_html, render_markdown

    for value in (None, "garbage", [], {}):
        broken = copy.deepcopy(light)
        if value is None:
            del broken[drop]
        else:
            broken[drop] = value
        page = render_html(broken, {})
        assert 'id="plain-answer"' in page
        render_markdown(broken, {}, Path("."))


@pytest.mark.parametrize("drop", ["metrics", "metrics_ci", "multitask_average", "multitask_average_ci",
                                  "parse_failure_rate", "per_seed", "fisher", "loss_curve"])
def test_any_run_key_may_be_missing_or_garbage(light, drop: str):
    from imax.report.html import render_html
    from imax.report.plots import fisher_curves, loss_curves

    for value in (None, "garbage", [None], {"x": 1}):
        broken = copy.deepcopy(light)
        for run in broken["runs"].values():
            if value is None:
                del run[drop]
            else:
                run[drop] = value
        render_html(broken, {})
        # With no usable points the plot is skipped ("not run"), never drawn empty or crashed.
        if drop == "fisher":
            assert fisher_curves(broken) is None
        if drop == "loss_curve":
            assert loss_curves(broken) is None


def test_reads_results_from_a_path(tmp_path: Path):
    src = tmp_path / "run"
    draw_xray(src / "img" / "a.jpg", (64, 64), 0)
    gallery = [{"dicom_id": "a", "image_path": "img/a.jpg", "size": [64, 64], "entries": []}]
    (src / "results.json").write_text(json.dumps({"preset": "from-disk", "seeds": [4], "gallery": gallery}))
    written = write_report(src, tmp_path / "from_dir")
    page = written["html"].read_text()
    assert "results" not in written and "from-disk" in page
    assert "data:image/jpeg;base64," in page  # the relative image path resolved against the results folder
    assert write_report(src / "results.json", tmp_path / "from_file")["md"].is_file()
    with pytest.raises(MissingPathError):
        write_report(tmp_path / "nope.json", tmp_path / "x")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ImaxError, match="not valid JSON"):
        write_report(tmp_path / "bad.json", tmp_path / "x")


def test_markdown_links_plots_relatively(report):
    md = report[1]["md"].read_text()
    assert "![Radar chart](plots/radar.png)" in md and "![Fisher spectra](plots/fisher.png)" in md
    assert "| calculation | mae ↓ |" in md and "**(best)**" in md


def test_gallery_reg_box_read_from_instruction(tmp_path: Path):
    from imax.report.gallery import query_box

    res = make_results(tmp_path, n_gallery=2)
    entry = next(e for e in res["gallery"][1]["entries"] if e["task"] == "reg")
    assert "query" not in entry
    box = query_box(entry, tuple(res["gallery"][1]["size"]))
    assert box is not None and (box.width, box.height) == tuple(res["gallery"][1]["size"])
