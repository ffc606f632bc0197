"""The report's controls: the positive-control verdict (headline), trivial baselines, image-shuffled
scores and the mean-box rec baseline per region, read from ``results.json``.

Conventions (set by :mod:`imax.experiment`): ``results["control"]`` holds the positive control's
``difference`` (parent − control multi-task average, ``value``/``ci``/``se``), ``detected`` and
``minimum_detectable_effect``; every ``runs.<run>`` holds ``trivial_baseline`` and ``shuffled_image``
blocks whose ``tasks.<task>`` carry the control's ``score`` / ``score_ci`` and the run's advantage
``diff`` / ``diff_ci`` (paired image bootstrap), plus ``multitask_average``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from imax.report import numbers as nb
from imax.report.assets import run_label
from imax.report.tables import Cell, Table, run_header

CONTROL_BLOCKS: dict[str, tuple[str, str]] = {
    "trivial_baseline": ("trivial baseline", "model − baseline"),
    "shuffled_image": ("image-shuffled", "real − shuffled"),
}


def control_arm(results: Mapping[str, Any]) -> str | None:
    """The positive control's run name, when the experiment trained one."""
    arm = nb.get(results, "control", "arm")
    return arm if isinstance(arm, str) and arm in nb.runs(results) else None


def study_runs(results: Mapping[str, Any]) -> list[str]:
    """The runs the study compares (the positive control excluded)."""
    return [r for r in nb.runs(results) if r != control_arm(results)]


def _signed(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def _ci_text(ci: tuple[float, float] | None, digits: int = 3, signed: bool = True) -> str:
    if ci is None:
        return ""
    f = _signed if signed else nb.fmt
    return f"[{f(ci[0], digits)}, {f(ci[1], digits)}]"


def control_verdict(results: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(sentence, detected) about the positive control, or None when the run has none.

    Not detected → the sentence opens with "Underpowered" and says no IMAX/DMAX conclusion is drawn.
    """
    c = nb.get(results, "control")
    if not isinstance(c, Mapping) or not c:
        return None
    arm, parent = run_label(str(c.get("arm", "control"))), run_label(str(c.get("parent", "dmax")))
    d = nb.num(nb.get(c, "difference", "value"))
    ci = nb.interval(nb.get(c, "difference", "ci"))
    mde = nb.num(c.get("minimum_detectable_effect"))
    handicap = str(c.get("handicap", "a known handicap"))
    numbers = (f"{parent} − {arm} multi-task average {_signed(d)} (95% CI {_ci_text(ci) or '—'}); "
               f"minimum detectable effect at this test-set size {nb.fmt(mde)}")
    if c.get("detected") is True:
        return f"Positive control detected ({handicap}): {numbers}.", True
    return (f"Underpowered: the positive control ({handicap}) was not detected: {numbers}. "
            "No IMAX/DMAX conclusion is drawn from this run."), False


COMPARED: tuple[str, ...] = ("imax", "dmax")
"""The runs the headline compares: both must beat their trivial baselines for it to draw a conclusion."""


def learning_verdict(results: Mapping[str, Any]) -> str | None:
    """A sentence when IMAX or DMAX does not beat its trivial baselines on the multi-task average (the
    paired-bootstrap CI of model − baseline not above 0), else None (also when no run carries the block).

    Models below their baselines have learned the answer distributions more than the tasks, so their
    difference says little about the study's question: the headline then draws no IMAX/DMAX conclusion
    even when the positive control was detected."""
    below = []
    for run in COMPARED:
        block = nb.get(results, "runs", run, "trivial_baseline")
        ci = nb.interval(nb.get(block, "multitask_average", "diff_ci"))
        if ci is None or ci[0] > 0:
            continue
        tasks = nb.get(block, "tasks")
        above = nb.get(block, "above_zero")
        count = (f", {len(above)} of {len(tasks)} tasks above their baseline"
                 if isinstance(above, list) and isinstance(tasks, Mapping) else "")
        below.append(f"{run_label(run)} {_signed(nb.num(nb.get(block, 'multitask_average', 'diff')))} "
                     f"{_ci_text(ci)}{count}")
    if not below:
        return None
    return ("Not learned: the models do not beat their trivial baselines (multi-task model − baseline, 95% CI: "
            + "; ".join(below) + "). They have learned the answer distributions more than the tasks, so no "
            "IMAX/DMAX conclusion is drawn from this run.")


def headline(results: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(blocking, notes): sentences that stop the headline from drawing an IMAX/DMAX conclusion (an
    undetected positive control, arms below their trivial baselines), and sentences shown beside a
    conclusion (a detected control). With any blocking sentence the plain answer is for the record only."""
    blocking, notes = [], []
    verdict = control_verdict(results)
    if verdict is not None:
        (notes if verdict[1] else blocking).append(verdict[0])
    learned = learning_verdict(results)
    if learned is not None:
        blocking.append(learned)
    return blocking, notes


def positive_control(results: Mapping[str, Any]) -> Table | None:
    c = nb.get(results, "control")
    if not isinstance(c, Mapping) or not c:
        return None
    d = nb.get(c, "difference") or {}
    ratio = nb.num(nb.get(c, "train_volume", "ratio"))
    detected = c.get("detected") is True
    rows = [
        [Cell("control arm"), Cell(run_label(str(c.get("arm", "—"))))],
        [Cell("handicap"), Cell(str(c.get("handicap", "—")))],
        [Cell("held equal"), Cell(str(c.get("held_equal", "—")))],
        [Cell("train volume, control ÷ parent"), Cell(nb.fmt(ratio, 2), cls="num")],
        [Cell(f"{run_label(str(c.get('parent', 'dmax')))} − control, multi-task average"),
         Cell(f"{_signed(nb.num(d.get('value')))} {_ci_text(nb.interval(d.get('ci')))}", cls="num")],
        [Cell("bootstrap SE of the difference"), Cell(nb.fmt(d.get("se"), 4), cls="num")],
        [Cell("minimum detectable effect (2.8 × SE)"), Cell(nb.fmt(c.get("minimum_detectable_effect")), cls="num")],
        [Cell("detected (95% CI above 0)"),
         Cell("yes" if detected else "no", cls="better" if detected else "worse")],
    ]
    return Table(["", "value"], rows, ["", ""],
                 "Paired bootstrap over test images (seeds averaged in each draw). A run that cannot see this "
                 "known handicap cannot see a subtler IMAX/DMAX effect.")


def _control_cell(block: Any, task: str | None) -> Cell:
    """"run score vs control score; Δ [CI]" for one run and task (None: the multi-task average)."""
    c = nb.get(block, "tasks", task) if task is not None else nb.get(block, "multitask_average")
    if not isinstance(c, Mapping):
        reason = nb.get(block, "unavailable")
        return Cell("—" if not reason else "not scored", cls="num")
    score = nb.num(c.get("score") if task is not None else c.get("value"))
    ci = nb.interval(c.get("score_ci") if task is not None else c.get("ci"))
    diff, diff_ci = nb.num(c.get("diff")), nb.interval(c.get("diff_ci"))
    cls = "num"
    if diff_ci is not None:
        cls += " better" if diff_ci[0] > 0 else " worse" if diff_ci[1] < 0 else ""
    text = f"{nb.fmt(score)} {_ci_text(ci, signed=False)}; Δ {_signed(diff)} {_ci_text(diff_ci)}".replace("  ", " ")
    rich = (f'{nb.fmt(score)} <span class="ci">{html.escape(_ci_text(ci, signed=False))}</span><br>'
            f'Δ <b>{html.escape(_signed(diff))}</b> <span class="ci">{html.escape(_ci_text(diff_ci))}</span>')
    return Cell(text, rich, cls)


def control_scores(results: Mapping[str, Any], key: str) -> Table | None:
    """Per task: each run's control score (trivial baseline or image-shuffled) and the run's advantage."""
    runs = [r for r in nb.runs(results) if isinstance(nb.get(results, "runs", r, key), Mapping)]
    if not runs:
        return None
    name, diff_name = CONTROL_BLOCKS[key]
    rules = nb.get(results, "runs", runs[0], key, "rule")
    rows = []
    for task in nb.tasks(results):
        metric = nb.primary(results, task)[0]
        rule = rules.get(task, "") if isinstance(rules, Mapping) else ""
        first = Cell(f"{task} ({rule})" if rule else task,
                     f'<span class="badge task">{html.escape(task)}</span>'
                     + (f'<br><span class="note">{html.escape(rule)}</span>' if rule else ""))
        rows.append([first, Cell(f"{metric} score")] + [_control_cell(nb.get(results, "runs", r, key), task)
                                                        for r in runs])
    rows.append([Cell("multi-task average", "<b>multi-task average</b>"), Cell("mean of scores")]
                + [_control_cell(nb.get(results, "runs", r, key), None) for r in runs])
    note = (f"Each cell: the {name}'s score (higher is better; lower-is-better metrics enter as 1 − value) "
            f"[95% CI], then Δ = {diff_name} with its paired-bootstrap 95% CI over test images; green: CI above 0, "
            "red: below 0.")
    if key == "trivial_baseline":
        note += (" Baselines come from each run's own train split and never see the image; they are scored "
                 "by the same scorer on the same test prompts.")
    else:
        note += " Each test prompt is shown another test image (a fixed seeded derangement); a model that uses the image scores lower."
    return Table(["task", "score"] + [run_header(r, i) for i, r in enumerate(runs)], rows,
                 ["", ""] + ["num"] * len(runs), note)


def summary(results: Mapping[str, Any]) -> Table | None:
    """Per run: tasks where it beats its trivial baseline with CI above 0, and both multi-task differences."""
    runs = [r for r in nb.runs(results)
            if any(isinstance(nb.get(results, "runs", r, k), Mapping) for k in CONTROL_BLOCKS)]
    if not runs:
        return None
    rows = []
    for r in runs:
        row = [Cell(run_label(r))]
        beaten = nb.get(results, "runs", r, "trivial_baseline", "above_zero")
        n_tasks = len(nb.get(results, "runs", r, "trivial_baseline", "tasks") or {})
        row.append(Cell(f"{len(beaten)} of {n_tasks}" if isinstance(beaten, list) and n_tasks else "—", cls="num"))
        for key in CONTROL_BLOCKS:
            avg = nb.get(results, "runs", r, key, "multitask_average")
            d = nb.num(nb.get(avg, "diff")) if isinstance(avg, Mapping) else None
            ci = nb.interval(nb.get(avg, "diff_ci")) if isinstance(avg, Mapping) else None
            cls = "num" + ("" if ci is None else " better" if ci[0] > 0 else " worse" if ci[1] < 0 else "")
            row.append(Cell(f"{_signed(d)} {_ci_text(ci)}".strip(), cls=cls))
        rows.append(row)
    return Table(["run", "tasks beating the trivial baseline (CI > 0)", "multi-task: model − baseline",
                  "multi-task: real − shuffled image"], rows, ["", "num", "num", "num"],
                 "A model that learned the tasks beats every trivial baseline; one that uses the image loses score "
                 "when shown another image. Differences: paired bootstrap over test images, 95% CI.")


def per_target(results: Mapping[str, Any]) -> Table | None:
    """The trivial baselines broken down by target (rec: the mean box per region; calculation: the
    median per measure; multilabel: the finding set per label space) beside every run.

    Generic over the task table: a task is shown when its baseline's metrics hold ``<target>/<m>`` for
    every metric ``m`` the task declares (``TaskSpec.metrics``, at least two), which the scorers write
    per region, measure and label space. The baseline column is the first run's (its own train split).
    """
    from imax.tasks import TASKS

    runs = nb.runs(results)
    source = next((r for r in runs if isinstance(nb.get(results, "runs", r, "trivial_baseline", "tasks"), Mapping)),
                  None)
    if source is None:
        return None
    rows = []
    for task in nb.tasks(results):
        base = nb.get(results, "runs", source, "trivial_baseline", "tasks", task, "metrics")
        names = TASKS[task].metrics if task in TASKS else ()  # type: ignore[index]
        if not isinstance(base, Mapping) or len(names) < 2:
            continue
        targets = sorted({k.rsplit("/", 1)[0] for k in base if "/" in k and k.rsplit("/", 1)[1] in names})
        for target in [t for t in targets if all(nb.num(base.get(f"{t}/{m}")) is not None for m in names)]:
            for m in names:
                key = f"{target}/{m}"
                rows.append([Cell(task), Cell(target), Cell(m), Cell(nb.fmt(base.get(key)), cls="num")]
                            + [Cell(nb.fmt(nb.score(results, r, task, key)), cls="num") for r in runs])
    if not rows:
        return None
    return Table(["task", "target", "metric", f"trivial baseline ({html.escape(run_label(source))} train)"]
                 + [run_header(r, i) for i, r in enumerate(runs)], rows, ["", "", "", "num"] + ["num"] * len(runs),
                 "Rec's baseline answers every image with the mean train box of the queried region: acc@0.5 alone "
                 "cannot tell a grounding model from this prior; mean IoU (rec's primary) and acc@0.75 can.")


def controls_html(results: Mapping[str, Any]) -> str:
    """The Controls section's body (tables or "not run" lines)."""
    parts = []
    for title, table, what in (
        ("Positive control", positive_control(results), "Positive control"),
        ("What the models learned", summary(results), "Controls summary"),
        ("Trivial baselines", control_scores(results, "trivial_baseline"), "Trivial baselines"),
        ("Image-shuffled score", control_scores(results, "shuffled_image"), "Image-shuffled score"),
        ("Baselines per target: rec's mean box per region, calculation per measure, findings per label space",
         per_target(results), "Per-target baselines"),
    ):
        parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(table.to_html() if table is not None else f'<p class="notrun">{html.escape(what)}: not run.</p>')
    return "".join(parts)


def controls_markdown(results: Mapping[str, Any]) -> list[str]:
    lines = ["## Controls", ""]
    for title, table in (
        ("Positive control", positive_control(results)),
        ("What the models learned", summary(results)),
        ("Trivial baselines", control_scores(results, "trivial_baseline")),
        ("Image-shuffled score", control_scores(results, "shuffled_image")),
        ("Baselines per target: rec's mean box per region, calculation per measure, findings per label space",
         per_target(results)),
    ):
        lines += [f"### {title}", "", table.to_markdown() if table is not None else f"_{title}: not run._", ""]
    return lines
