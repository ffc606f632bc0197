"""The report's tables, built once as :class:`Table` and rendered both to HTML and to Markdown.

Each builder takes the results dict and returns a table, or ``None`` when its section was not run;
the page then says "not run" instead of showing an empty grid.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imax.report import numbers as nb
from imax.report.assets import RUN_ORDER, run_colour, run_label
from imax.schema.records import TASK_NAMES


@dataclass
class Cell:
    """One cell: plain ``text`` (Markdown and fallback), optional rich ``html``, CSS classes."""

    text: str
    html: str | None = None
    cls: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]]
    header_cls: list[str] = field(default_factory=list)
    note: str = ""

    def to_html(self) -> str:
        hcls = self.header_cls or [""] * len(self.header)
        head = "".join(f'<th class="{c}">{h}</th>' for h, c in zip(self.header, hcls, strict=False))
        body = []
        for row in self.rows:
            tds = "".join(
                f'<td class="{c.cls}">{c.html if c.html is not None else html.escape(c.text)}</td>' for c in row
            )
            body.append(f"<tr>{tds}</tr>")
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"

    def to_markdown(self) -> str:
        def clean(s: str) -> str:
            return s.replace("|", "\\|").replace("\n", " ")

        header = [clean(_strip_tags(h)) for h in self.header]
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        for row in self.rows:
            cells = [clean(c.text) + (" **(best)**" if "best" in c.cls.split() else "") for c in row]
            lines.append("| " + " | ".join(cells) + " |")
        if self.note:
            lines += ["", f"_{self.note}_"]
        return "\n".join(lines)


def _strip_tags(s: str) -> str:
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", s))


def run_header(run: str, index: int = 0) -> str:
    """A column header with the run's colour swatch."""
    return f'<span class="swatch" style="background:{run_colour(run, index)}"></span>{html.escape(run_label(run))}'


def _value_cell(mean: float | None, ci: tuple[float, float] | None, digits: int = 3) -> Cell:
    text = nb.fmt(mean, digits)
    if ci is not None:
        ci_text = f"[{nb.fmt(ci[0], digits)}, {nb.fmt(ci[1], digits)}]"
        return Cell(f"{text} {ci_text}", f'{text} <span class="ci">{ci_text}</span>', "num")
    return Cell(text, cls="num")


def _gain_cell(g: float | None, ci: tuple[float, float] | None, computed: bool) -> Cell:
    text = nb.pct(g)
    mark = "*" if computed else ""
    cls = "num" + ("" if g is None else (" better" if g > 0 else " worse" if g < 0 else ""))
    if ci is not None:
        ci_text = nb.pct_ci(ci)
        return Cell(f"{text} {ci_text}", f'{text} <span class="ci">{ci_text}</span>', cls)
    return Cell(text + mark, cls=cls)


def per_task(results: Mapping[str, Any]) -> Table | None:
    """Primary metric per task for every run (mean [95 % CI]), best per row marked, gains vs DMAX."""
    runs, tasks = nb.runs(results), nb.tasks(results)
    if not runs or not tasks:
        return None
    control = nb.get(results, "control", "arm")  # the positive control has its own section, no gain column
    gain_runs = [r for r in runs if r not in ("dmax", control)] if "dmax" in runs else []
    header = ["task", "primary metric"] + [run_header(r, i) for i, r in enumerate(runs)]
    header += [f"{html.escape(run_label(r))} vs DMAX" for r in gain_runs]
    header_cls = ["", ""] + ["num"] * (len(runs) + len(gain_runs))
    rows: list[list[Cell]] = []
    any_computed = False
    for task in tasks:
        metric, hib = nb.primary(results, task)
        arrow, what = ("↑", "higher is better") if hib else ("↓", "lower is better")
        row = [Cell(task, f'<span class="badge task">{html.escape(task)}</span>'),
               Cell(f"{metric} {arrow}", f'{html.escape(metric)} <span title="{what}">{arrow}</span>')]
        values = {r: nb.score(results, r, task) for r in runs}
        present = [v for v in values.values() if v is not None]
        best = (max(present) if hib else min(present)) if present else None
        for r in runs:
            cell = _value_cell(values[r], nb.score_ci(results, r, task))
            if best is not None and values[r] == best and len(present) > 1:
                cell.cls += " best"
            row.append(cell)
        for r in gain_runs:
            g, ci, computed = nb.gain(results, r, task)
            any_computed |= computed and g is not None
            row.append(_gain_cell(g, ci, computed))
        rows.append(row)
    # Multi-task average: same columns, higher is better by construction.
    avg_row = [Cell("multi-task average", "<b>multi-task average</b>"), Cell("mean of primaries ↑")]
    avgs = {r: nb.num(nb.get(results, "runs", r, "multitask_average")) for r in runs}
    present = [v for v in avgs.values() if v is not None]
    for r in runs:
        cell = _value_cell(avgs[r], nb.interval(nb.get(results, "runs", r, "multitask_average_ci")))
        if present and len(present) > 1 and avgs[r] == max(present):
            cell.cls += " best"
        avg_row.append(cell)
    for r in gain_runs:
        g, ci, computed = nb.average_gain(results, r)
        any_computed |= computed and g is not None
        avg_row.append(_gain_cell(g, ci, computed))
    rows.append(avg_row)
    note = ("Cells: mean over seeds [95% CI]; ↑ higher is better, ↓ lower is better. Gains are relative to DMAX and oriented so that positive = better "
            "(sign flipped for lower-is-better metrics). Best run per row highlighted.")
    if any_computed:
        note += " * computed here from the two means (the results carry no gain for it), so no CI."
    return Table(header, rows, header_cls, note)


def mean_of_relative(results: Mapping[str, Any]) -> Table | None:
    """Both summary gains per comparison: mean of per-task relative gains and relative gain of the mean."""
    gains = nb.get(results, "gains")
    if not isinstance(gains, Mapping) or not gains:
        return None
    rows = []
    for key in sorted(gains):
        g = gains[key]
        if not isinstance(g, Mapping):
            continue
        cells = [Cell(key.replace("_vs_", " vs ").replace("pseudo_imax", "pseudo-IMAX").replace("imax", "IMAX")
                      .replace("dmax", "DMAX"))]
        for stat in ("mean_of_relative", "relative_of_mean"):
            cells.append(_gain_cell(nb.num(g.get(stat)), nb.interval(g.get(f"{stat}_ci")), False))
        rows.append(cells)
    if not rows:
        return None
    return Table(["comparison", "mean of per-task relative gains", "relative gain of the multi-task average"],
                 rows, ["", "num", "num"])


def parse_failures(results: Mapping[str, Any]) -> Table | None:
    runs, tasks = nb.runs(results), nb.tasks(results)
    if not any(isinstance(nb.get(results, "runs", r, "parse_failure_rate"), Mapping) for r in runs):
        return None
    rows = []
    for task in tasks:
        rows.append([Cell(task)] + [Cell(nb.pct(nb.num(nb.get(results, "runs", r, "parse_failure_rate", task)))
                                          .lstrip("+"), cls="num") for r in runs])
    return Table(["task"] + [run_header(r, i) for i, r in enumerate(runs)], rows, [""] + ["num"] * len(runs),
                 "Share of test answers the task parser could not read (scored as wrong).")


def all_metrics(results: Mapping[str, Any]) -> Table | None:
    """Every metric of every task (secondary ones included), one row per (task, metric)."""
    runs, tasks = nb.runs(results), nb.tasks(results)
    rows = []
    for task in tasks:
        names: list[str] = []
        for r in runs:
            m = nb.get(results, "runs", r, "metrics", task)
            if isinstance(m, Mapping):
                names += [k for k in m if k not in names]
        for metric in names:
            rows.append([Cell(task), Cell(metric)] + [
                _value_cell(nb.score(results, r, task, metric), nb.score_ci(results, r, task, metric)) for r in runs
            ])
    if not rows:
        return None
    return Table(["task", "metric"] + [run_header(r, i) for i, r in enumerate(runs)], rows,
                 ["", ""] + ["num"] * len(runs))


def per_seed(results: Mapping[str, Any]) -> Table | None:
    runs = nb.runs(results)
    seeds: list[Any] = []
    by_run: dict[str, dict[Any, float | None]] = {}
    for r in runs:
        entries = nb.get(results, "runs", r, "per_seed")
        by_run[r] = {}
        for e in entries if isinstance(entries, list) else []:
            if isinstance(e, Mapping):
                seeds += [e.get("seed")] if e.get("seed") not in seeds else []
                by_run[r][e.get("seed")] = nb.num(e.get("multitask_average"))
    if not seeds:
        return None
    rows = [[Cell(str(s), cls="num")] + [Cell(nb.fmt(by_run[r].get(s)), cls="num") for r in runs] for s in seeds]
    return Table(["seed"] + [run_header(r, i) for i, r in enumerate(runs)], rows, ["num"] + ["num"] * len(runs),
                 "Multi-task average per seed.")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def dataset_stats(results: Mapping[str, Any]) -> Table | None:
    """Dataset statistics side by side, one column per dataset (imax / dmax / pseudo_imax)."""
    stats = nb.get(results, "dataset_stats")
    if not isinstance(stats, Mapping) or not stats:
        return None
    names = [r for r in RUN_ORDER if isinstance(stats.get(r), Mapping)]
    names += sorted(k for k in stats if k not in names and isinstance(stats[k], Mapping))
    flat = {}
    for n in names:
        flat[n] = {}
        _flatten("", stats[n], flat[n])
    # Headline rows first, in a fixed order, then per-task volumes, then everything else.
    lead = ["mode", "images", "entries", "mean_tasks_per_image", "mean_entries_per_image", "test_patients_in_train"]
    keys: list[str] = [k for k in lead if any(k in flat[n] for n in names)]
    task_keys = [f"per_task_entries.{t}" for t in TASK_NAMES if any(f"per_task_entries.{t}" in flat[n] for n in names)]
    rest = sorted({k for n in names for k in flat[n]} - set(keys) - set(task_keys))
    rows = []
    for k in keys + task_keys + rest:
        label = k.replace("per_task_entries.", "entries · ").replace("per_split.", "split · ").replace("_", " ")
        cells = [Cell(label)]
        for n in names:
            v = flat[n].get(k)
            if isinstance(v, bool) or not isinstance(v, int | float):
                cells.append(Cell("—" if v is None else str(v), cls="num"))
            elif isinstance(v, int):
                cells.append(Cell(f"{v:,}", cls="num"))
            else:
                cells.append(Cell(nb.fmt(v, 2), cls="num"))
        rows.append(cells)
    return Table(["statistic"] + [run_header(n, i) for i, n in enumerate(names)], rows, [""] + ["num"] * len(names))


def fisher(results: Mapping[str, Any]) -> Table | None:
    """SE, ρ, top-k ratio, trace and effective rank per checkpoint and run."""
    rows = []
    for r in nb.runs(results):
        points = nb.get(results, "runs", r, "fisher")
        for p in points if isinstance(points, list) else []:
            if not isinstance(p, Mapping):
                continue
            rows.append([Cell(run_label(r)), Cell(str(p.get("checkpoint", "—"))),
                         Cell(str(p.get("step", "—")), cls="num")]
                        + [Cell(nb.fmt(p.get(k), 4 if k in ("se", "rho", "topk_ratio") else 3), cls="num")
                           for k in ("se", "rho", "topk_ratio", "trace", "eff_rank")])
    if not rows:
        return None
    return Table(["run", "checkpoint", "step", "SE", "ρ", "top-k ratio", "trace", "eff. rank"], rows,
                 ["", "", "num", "num", "num", "num", "num", "num"],
                 "SE: spectral entropy of the normalised Fisher eigenvalues (lower = more concentrated); "
                 "ρ: dominant-eigenvalue ratio λ₁/Σλ (higher = more concentrated).")


def pseudo_quality(results: Mapping[str, Any]) -> Table | None:
    """Pseudo-label quality per task: metric before/after the confidence filter and the kept fraction."""
    q = nb.get(results, "pseudo_label_quality")
    if not isinstance(q, Mapping) or not q:
        return None
    order = [t for t in TASK_NAMES if t in q] + sorted(t for t in q if t not in TASK_NAMES)
    rows = []
    for task in order:
        d = q[task] if isinstance(q[task], Mapping) else {}

        def side(key: str, d: Mapping[str, Any] = d) -> tuple[Cell, Cell]:
            s = d.get(key) if isinstance(d.get(key), Mapping) else {}
            n = s.get("n")
            scores = "; ".join(f"{k} {nb.fmt(v)}" for k, v in s.items() if k != "n") or "—"
            return Cell(f"{n:,}" if isinstance(n, int) else "—", cls="num"), Cell(scores, cls="num")

        kept = nb.num(d.get("kept_fraction"))
        rows.append([Cell(task), *side("before_filter"), *side("after_filter"),
                     Cell("—" if kept is None else f"{kept * 100:.1f}%", cls="num"),
                     Cell(nb.fmt(d.get("threshold")), cls="num")])
    return Table(["task", "n before", "quality before filter", "n after", "quality after filter", "kept",
                  "threshold"], rows, ["", "num", "num", "num", "num", "num", "num"],
                 "Pseudo labels scored against the held-back real annotations, before and after the filter.")
