"""``write_report``: the study's results as one self-contained HTML page plus a Markdown twin.

The page embeds everything (CSS inline, plots and images as base64 data URIs, no external scripts or
fonts), so it can be mailed or opened from a file on a machine with no network. Every number on it is
read from the results JSON; sections the experiment did not run say "not run".
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imax.report import controls, tables
from imax.report import numbers as nb
from imax.report.assets import CSS, SELF_CHECK_JS
from imax.report.gallery import gallery
from imax.report.images import data_uri
from imax.report.plots import save_plots
from imax.schema.errors import ImaxError, MissingPathError

SECTIONS = (
    ("results", "Results"),
    ("controls", "Controls"),
    ("dataset", "Datasets"),
    ("fisher", "Fisher spectra"),
    ("loss", "Training loss"),
    ("pseudo", "Pseudo labels"),
    ("gallery", "Gallery"),
    ("details", "Details"),
)


def load_results(results: Mapping[str, Any] | Path | str) -> dict[str, Any]:
    """The results dict, from a dict, a ``results.json`` file or a directory holding one."""
    if isinstance(results, Mapping):
        return dict(results)
    path = Path(results)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise MissingPathError(f"results file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ImaxError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ImaxError(f"{path}: expected a JSON object at the top level")
    return data


def _not_run(what: str) -> str:
    return f'<p class="notrun">{html.escape(what)}: not run.</p>'


def _section(key: str, title: str, body: str) -> str:
    return f'<section class="card" id="{key}"><h2>{html.escape(title)}</h2>{body}</section>'


def _plot(paths: Mapping[str, Path], name: str, alt: str) -> str:
    if name not in paths:
        return _not_run(alt)
    return f'<img class="plot" src="{data_uri(paths[name].read_bytes(), "image/png")}" alt="{html.escape(alt)}">'


def _table(t: tables.Table | None, what: str | None = None) -> str:
    """The table, or "<what>: not run." (or nothing when ``what`` is None) when it is absent."""
    if t is not None:
        return t.to_html()
    return _not_run(what) if what else ""


def _header(results: Mapping[str, Any]) -> str:
    preset = html.escape(str(results.get("preset", "—")))
    seeds = results.get("seeds")
    seeds_text = ", ".join(str(s) for s in seeds) if isinstance(seeds, list) and seeds else "—"
    meta = (f"preset <b>{preset}</b> · seeds {html.escape(seeds_text)} · wall time "
            f"{html.escape(nb.wall_time(results.get('wall_seconds')))} · created "
            f"{html.escape(str(results.get('created', '—')))}")
    blocking, notes = controls.headline(results)
    notes_html = "".join(f'<div class="answer control" id="control-verdict">{html.escape(n)}</div>' for n in notes)
    record = "For the record only: " if blocking else ""
    if blocking:
        # The run could not see a known handicap, or its models did not learn the tasks: the headline says
        # so and the IMAX/DMAX numbers below are shown for the record only.
        first = ' id="plain-answer"'  # the first blocking sentence is the headline
        answers = "".join(f'<div class="answer underpowered"{first if i == 0 else ""}>{html.escape(b)}</div>'
                          for i, b in enumerate(blocking))
        answers += notes_html + f'<div class="answer secondary">{record}{html.escape(nb.plain_answer(results))}</div>'
    else:
        answers = f'<div class="answer" id="plain-answer">{html.escape(nb.plain_answer(results))}</div>' + notes_html
    if "pseudo_imax" in nb.runs(results):
        answers += f'<div class="answer secondary">{record}{html.escape(nb.plain_answer(results, "pseudo_imax"))}</div>'
    toc = "".join(f'<a href="#{k}">{html.escape(t)}</a>' for k, t in SECTIONS)
    return (f'<header class="top"><div class="inner"><h1>imax study: IMAX vs DMAX</h1>'
            f'<div class="meta">{meta}</div>{answers}<nav class="toc">{toc}</nav></div></header>')


def render_html(results: Mapping[str, Any], plots: Mapping[str, Path], base_dir: Path | None = None) -> str:
    """The whole page as a string (plots given as saved PNG paths).

    ``base_dir`` resolves relative gallery image paths (the results file's folder when read from disk).
    """
    results_body = (
        _table(tables.per_task(results), "Per-task results")
        + _table(tables.mean_of_relative(results))
        + '<h3>Per-task profile</h3>'
        + '<p class="note">Each axis: primary score as a fraction of the best run on that task '
          "(best ÷ score for lower-is-better metrics), so further out is better and 1.0 is the best run.</p>"
        + _plot(plots, "radar", "Radar chart")
    )
    gal = gallery(results, base_dir)
    config = results.get("config")
    details = (
        "<h3>All metrics</h3>" + _table(tables.all_metrics(results), "Metrics")
        + "<h3>Per seed</h3>" + _table(tables.per_seed(results), "Per-seed results")
        + "<h3>Parse failures</h3>" + _table(tables.parse_failures(results), "Parse-failure rates")
        + "<h3>Configuration</h3>"
        + (f"<details><summary>resolved config</summary><pre class='mono'>"
           f"{html.escape(json.dumps(config, indent=2, sort_keys=True, default=str))}</pre></details>"
           if config else _not_run("Configuration"))
    )
    body = "".join([
        '<div class="warn broken">Some images on this page failed to load.</div>',
        _section("results", "Results per task", results_body),
        _section("controls", "Controls: positive control, trivial baselines, shuffled images",
                 controls.controls_html(results)),
        _section("dataset", "Datasets side by side", _table(tables.dataset_stats(results), "Dataset statistics")),
        _section("fisher", "Fisher spectra over training",
                 _plot(plots, "fisher", "Fisher spectra") + _table(tables.fisher(results))),
        _section("loss", "Training loss", _plot(plots, "loss", "Loss curves")),
        _section("pseudo", "Pseudo-label quality", _table(tables.pseudo_quality(results), "Pseudo labelling")),
        _section("gallery", "Gallery: truth vs predictions on test images", gal or _not_run("Gallery")),
        _section("details", "Details", details),
    ])
    title = f"imax report · {results.get('preset', '')}"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
            f"<body>{_header(results)}<main>{body}</main><script>{SELF_CHECK_JS}</script></body></html>")


def render_markdown(results: Mapping[str, Any], plots: Mapping[str, Path], out_dir: Path) -> str:
    """The same report as Markdown (plots linked as relative PNG paths; no gallery images)."""
    seeds = results.get("seeds")
    lines = [
        "# imax study: IMAX vs DMAX", "",
        f"preset **{results.get('preset', '—')}** · seeds "
        f"{', '.join(map(str, seeds)) if isinstance(seeds, list) and seeds else '—'} · wall time "
        f"{nb.wall_time(results.get('wall_seconds'))} · created {results.get('created', '—')}", "",
    ]
    blocking, notes = controls.headline(results)
    note_lines = [line for n in notes for line in (n, "")]
    record = "For the record only: " if blocking else ""
    if blocking:
        lines += [line for b in blocking for line in (f"**{b}**", "")]
        lines += [*note_lines, f"{record}{nb.plain_answer(results)}", ""]
    else:
        lines += [f"**{nb.plain_answer(results)}**", "", *note_lines]
    if "pseudo_imax" in nb.runs(results):
        lines += [record + nb.plain_answer(results, "pseudo_imax"), ""]

    def table(t: tables.Table | None, what: str) -> list[str]:
        return [t.to_markdown(), ""] if t is not None else [f"_{what}: not run._", ""]

    def plot(name: str, what: str) -> list[str]:
        if name not in plots:
            return [f"_{what}: not run._", ""]
        return [f"![{what}]({plots[name].relative_to(out_dir).as_posix()})", ""]

    lines += ["## Results per task", "", *table(tables.per_task(results), "Per-task results")]
    lines += table(tables.mean_of_relative(results), "Summary gains") + plot("radar", "Radar chart")
    lines += controls.controls_markdown(results)
    lines += ["## Datasets side by side", "", *table(tables.dataset_stats(results), "Dataset statistics")]
    lines += ["## Fisher spectra over training", "", *plot("fisher", "Fisher spectra")]
    lines += table(tables.fisher(results), "Fisher spectra")
    lines += ["## Training loss", "", *plot("loss", "Loss curves")]
    lines += ["## Pseudo-label quality", "", *table(tables.pseudo_quality(results), "Pseudo labelling")]
    n_gallery = len(results["gallery"]) if isinstance(results.get("gallery"), list) else 0
    lines += ["## Gallery", "", f"{n_gallery} test images with truth vs predictions: see report.html.", ""]
    lines += ["## Per seed", "", *table(tables.per_seed(results), "Per-seed results")]
    lines += ["## Parse failures", "", *table(tables.parse_failures(results), "Parse-failure rates")]
    return "\n".join(lines)


def write_report(results: Mapping[str, Any] | Path, out_dir: Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md``, ``plots/*.png`` and (given a dict) ``results.json``.

    ``results`` is the experiment's results dict, or a path to ``results.json`` (or to the directory
    holding it). Returns the written paths by name: ``html``, ``md``, ``results`` (dict input only)
    and one ``plot:<name>`` per PNG.
    """
    data = load_results(results)
    base_dir = None
    if not isinstance(results, Mapping):
        base_dir = Path(results) if Path(results).is_dir() else Path(results).parent
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if isinstance(results, Mapping):
        path = out_dir / "results.json"
        path.write_text(json.dumps(data, indent=2, default=str))
        written["results"] = path
    plots = save_plots(data, out_dir / "plots")
    written.update({f"plot:{k}": v for k, v in plots.items()})
    written["html"] = out_dir / "report.html"
    written["html"].write_text(render_html(data, plots, base_dir), encoding="utf-8")
    written["md"] = out_dir / "report.md"
    written["md"].write_text(render_markdown(data, plots, out_dir), encoding="utf-8")
    return written
