"""The gallery: test images with the truth and every run's answer for each task.

Boxes are drawn on the images (truth green, query boxes cyan and dashed, each run's predicted box in
its colour); text answers sit in a table beside the image. Which payload of a task is a box is the task
table's word (``TaskSpec.answer_box``: rec; ``query_box``: reg). A gallery entry may carry an optional
``query`` payload; when a query-box entry has none, its box is read back out of the instruction text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imax.report import numbers as nb
from imax.report.assets import QUERY_COLOUR, TRUTH_COLOUR, run_colour, run_label
from imax.report.images import Overlay, box_or_none, image_tag, load_image
from imax.schema.box import Box, boxes_in_text
from imax.tasks import TASKS, TaskSpec

MAIN_SIDE = 420
"""Longest side of the gallery's main image in pixels (shown at 300 CSS px: sharp on HiDPI too)."""

THUMB_SIDE = 200


def query_box(entry: Mapping[str, Any], size: tuple[int, int] | None) -> Box | None:
    """The box a query-box entry (reg) asks about: its ``query`` payload, else the first box in the
    instruction."""
    b = box_or_none(entry.get("query"))
    if b is not None or size is None:
        return b
    found = boxes_in_text(str(entry.get("instruction", "")), size[0], size[1])
    return found[0] if found else None


def box_caption(spec: TaskSpec | None, query: Mapping[str, Any], answer: Mapping[str, Any]) -> str:
    """Label of an entry's box: an answer box is named by the query's fields (rec: the phrase), a
    query box by the answer text (reg: the phrase); the task name when the payload cannot say."""
    if spec is None:
        return "?"
    try:
        if spec.answer_box:
            return " ".join(str(v) for v in spec.instruction_fields(query).values()) or spec.name
        if spec.query_box:
            return f"{spec.name}: {spec.format_answer(query, answer)}"
    except (KeyError, TypeError, ValueError):  # a malformed payload: still draw the box, plainly labelled
        pass
    return spec.name


def entry_overlays(entry: Mapping[str, Any], runs: Sequence[str], size: tuple[int, int] | None) -> list[Overlay]:
    """Boxes of one entry: truth (a box answer), the question (a query box, dashed), each run's parsed box."""
    out: list[Overlay] = []
    task = str(entry.get("task"))
    spec = TASKS.get(task)
    if spec is not None and spec.query_box:
        q = query_box(entry, size)
        if q is not None:
            out.append(Overlay(q, QUERY_COLOUR, f"{task} query", dashed=True))
    truth = box_or_none(entry.get("reference_answer"))
    if truth is not None:
        out.append(Overlay(truth, TRUTH_COLOUR, "truth"))
    preds = entry.get("predictions") if isinstance(entry.get("predictions"), Mapping) else {}
    for i, r in enumerate(runs):
        b = box_or_none(nb.get(preds, r, "parsed")) if spec is not None and spec.answer_box else None
        if b is not None:
            out.append(Overlay(b, run_colour(r, i), run_label(r)))
    return out


def _size(item: Mapping[str, Any]) -> tuple[int, int] | None:
    s = item.get("size")
    if isinstance(s, list | tuple) and len(s) == 2 and all(isinstance(v, int | float) and v > 0 for v in s):
        return int(s[0]), int(s[1])
    return None


def _text(value: Any) -> str:
    """Escaped answer text with break points after each ``>``, so box strings like
    ``{<38><48><70><82>}`` can wrap in a narrow column instead of widening the table."""
    return html.escape(str(value)).replace("&gt;", "&gt;<wbr>")


def _pred_cell(pred: Any, task: str) -> str:
    if not isinstance(pred, Mapping):
        return '<span class="note">—</span>'
    text = _text(pred.get("text", ""))
    badge = ' <span class="badge fail">unparseable</span>' if pred.get("parsed") is None else ""
    return f'<span class="resp">{text}</span>{badge}'


def legend(runs: Sequence[str]) -> str:
    items = [(TRUTH_COLOUR, "truth"), (QUERY_COLOUR, "query box (dashed)")]
    items += [(run_colour(r, i), run_label(r)) for i, r in enumerate(runs)]
    return '<div class="legend">' + "".join(
        f'<span><span class="swatch" style="background:{c}"></span>{html.escape(t)}</span>' for c, t in items
    ) + "</div>"


def _entries(item: Any) -> list[Mapping[str, Any]]:
    entries = item.get("entries") if isinstance(item, Mapping) else None
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def gallery_item(item: Mapping[str, Any], runs: Sequence[str], base_dir: Path | None = None) -> str:
    """One test image: the image with all truth boxes, and a row per entry with each run's answer."""
    path = Path(str(item.get("image_path", "")))
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    size = _size(item)
    entries = _entries(item)
    truth_overlays = []
    for e in entries:
        for ov in entry_overlays(e, [], size):
            label = ov.label
            spec = TASKS.get(str(e.get("task")))
            if spec is not None and spec.answer_box and isinstance(e.get("query"), Mapping):
                label = box_caption(spec, e["query"], {})
            truth_overlays.append(Overlay(ov.box, ov.colour, label, ov.dashed))
    did = str(item.get("dicom_id", "?"))
    image, _ = load_image(path)
    main = image_tag(path, truth_overlays, MAIN_SIDE, "main", f"test image {did}", image=image)
    head = "".join(f"<th>{html.escape(run_label(r))}</th>" for r in runs)
    rows = []
    for e in entries:
        task = str(e.get("task", "?"))
        ovs = entry_overlays(e, runs, size)
        # Per-entry thumbnails only when the image exists: the main placeholder already says it is missing.
        thumb = (image_tag(path, ovs, THUMB_SIDE, "thumb", f"{task} boxes (zoomed)", image=image, labels=False,
                           zoom=True)
                 if ovs and image is not None else "")
        preds = e.get("predictions") if isinstance(e.get("predictions"), Mapping) else {}
        cells = "".join(f"<td>{_pred_cell(preds.get(r), task)}</td>" for r in runs)
        rows.append(
            f'<tr><td><span class="badge task">{html.escape(task)}</span>{thumb}</td>'
            f'<td>{html.escape(str(e.get("instruction", "")))}</td>'
            f'<td class="resp">{_text(e.get("reference", ""))}</td>{cells}</tr>'
        )
    table = (f"<table><thead><tr><th>task</th><th>instruction</th><th>truth</th>{head}</tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table>") if rows else '<p class="notrun">no entries</p>'
    return (f'<div class="gallery-item"><div>{main}<p class="note mono">{html.escape(did)}</p></div>'
            f"<div>{table}</div></div>")


def gallery(results: Mapping[str, Any], base_dir: Path | None = None) -> str | None:
    """HTML of the whole gallery, or ``None`` when the results carry none.

    Image paths are absolute in results written by the experiment; relative ones resolve against
    ``base_dir`` (else the working directory).
    """
    items = nb.get(results, "gallery")
    if not isinstance(items, list) or not items:
        return None
    runs = nb.runs(results)
    # Runs that answered in the gallery but are absent from "runs" still get a column.
    for item in items:
        for e in _entries(item):
            preds = e.get("predictions")
            if isinstance(preds, Mapping):
                runs += [r for r in preds if r not in runs]
    return legend(runs) + "".join(gallery_item(it, runs, base_dir) for it in items if isinstance(it, Mapping))
