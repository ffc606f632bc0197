"""``write_browser``: a built dataset as one static page to page through, image by image.

Each image-centric record shows the image (base64 thumbnail) with its boxes drawn — rec answers in
green (amber when pseudo-labelled), query boxes (reg) dashed cyan; which payload is a box is the task
table's word — and every entry of every task
(instruction → response, provenance badge). Prev/next buttons, arrow keys and split/task filters are a
few lines of inline JS; nothing is fetched. Missing image files get an explicit placeholder.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from imax.report.assets import BROWSER_JS, CSS, QUERY_COLOUR, SELF_CHECK_JS, TRUTH_COLOUR
from imax.report.gallery import box_caption
from imax.report.images import Overlay, box_or_none, image_tag
from imax.schema.errors import ImaxError, MissingPathError
from imax.schema.records import SPLITS, TASK_NAMES
from imax.tasks import TASKS

PSEUDO_COLOUR = "#d97706"
"""Answer boxes that came from pseudo labelling (not from a real annotation)."""

THUMB_SIDE = 512


def _json(text: Any) -> dict[str, Any]:
    """A query/answer JSON column value as a dict (``{}`` when empty or malformed)."""
    if isinstance(text, Mapping):
        return dict(text)
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _read(data_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame | None, dict[str, Any], dict[str, Any]]:
    entries_path = data_dir / "entries.parquet"
    if not entries_path.is_file():
        raise MissingPathError(f"not a built dataset (no entries.parquet): {data_dir}")
    try:
        entries = pl.read_parquet(entries_path)
    except Exception as exc:  # polars raises several exception types for corrupt parquet
        raise ImaxError(f"{entries_path}: cannot read parquet: {exc}") from None
    images = pl.read_parquet(data_dir / "images.parquet") if (data_dir / "images.parquet").is_file() else None
    manifest: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for name, target in (("manifest.json", manifest), ("stats.json", stats)):
        p = data_dir / name
        if p.is_file():
            try:
                loaded = json.loads(p.read_text())
            except json.JSONDecodeError:
                loaded = {}
            target.update(loaded if isinstance(loaded, dict) else {})
    return entries, images, manifest, stats


def _choose(dicom_ids: list[str], split_of: Mapping[str, str], max_images: int, seed: int) -> list[str]:
    """Up to ``max_images`` ids (a seeded sample when there are more), ordered by split then id."""
    ids = sorted(set(dicom_ids))
    if len(ids) > max_images:
        rng = np.random.default_rng(seed)
        ids = sorted(rng.choice(ids, size=max_images, replace=False).tolist())
    order = {s: i for i, s in enumerate(SPLITS)}
    return sorted(ids, key=lambda d: (order.get(split_of.get(d, ""), len(order)), d))


def _overlays(rows: list[dict[str, Any]]) -> list[Overlay]:
    out: list[Overlay] = []
    for r in rows:
        spec = TASKS.get(str(r.get("task")))
        if spec is None:
            continue
        query, answer = _json(r.get("query")), _json(r.get("answer"))
        if spec.answer_box:
            b = box_or_none(answer)
            if b is not None:
                pseudo = r.get("provenance") == "pseudo"
                out.append(Overlay(b, PSEUDO_COLOUR if pseudo else TRUTH_COLOUR, box_caption(spec, query, answer)))
        elif spec.query_box:
            b = box_or_none(query)
            if b is not None:
                out.append(Overlay(b, QUERY_COLOUR, box_caption(spec, query, answer), dashed=True))
    return out


def _entry_html(r: Mapping[str, Any]) -> str:
    prov = str(r.get("provenance") or "real")
    source = html.escape(str(r.get("source") or ""))
    return (
        f'<div class="entry"><div class="head"><span class="badge task">{html.escape(str(r.get("task")))}</span>'
        f'<span class="badge {html.escape(prov)}">{html.escape(prov)}</span>'
        f'<span class="note" title="{html.escape(str(r.get("id", "")))}">{source}</span></div>'
        f'<div class="instr">{html.escape(str(r.get("instruction", "")))}</div>'
        f'<div><span class="arrow">→ </span><span class="resp">{html.escape(str(r.get("response", "")))}</span></div>'
        "</div>"
    )


def _record_html(did: str, rows: list[dict[str, Any]], image_row: Mapping[str, Any], root: Path) -> str:
    rel = str(image_row.get("path") or (rows[0].get("image") if rows else "") or "")
    split = str(rows[0].get("split") if rows else image_row.get("split", ""))
    tasks = sorted({str(r.get("task")) for r in rows}, key=lambda t: (TASK_NAMES.index(t) if t in TASK_NAMES else 99, t))
    img = image_tag(root / rel, _overlays(rows), THUMB_SIDE, "", f"chest X-ray {did}")
    meta = {
        "dicom_id": did,
        "subject": rows[0].get("subject_id") if rows else image_row.get("subject_id"),
        "split": split,
        "view": image_row.get("view"),
        "size": f"{image_row.get('width')} × {image_row.get('height')}" if image_row.get("width") else None,
        "image": rel,
        "tasks": f"{len(tasks)} ({', '.join(tasks)}) · {len(rows)} entries",
    }
    dl = "".join(f"<dt>{k}</dt><dd>{html.escape(str(v))}</dd>" for k, v in meta.items() if v not in (None, ""))
    ordered = sorted(rows, key=lambda r: (tasks.index(str(r.get("task"))), str(r.get("id"))))
    return (
        f'<section class="record" data-split="{html.escape(split)}" data-tasks="{html.escape(" ".join(tasks))}">'
        f'<div class="imgcol">{img}<dl class="meta">{dl}</dl></div>'
        f'<div>{"".join(_entry_html(r) for r in ordered)}</div></section>'
    )


def write_browser(data_dir: Path, out: Path | None = None, max_images: int = 200, seed: int = 0) -> Path:
    """Write a static, self-contained record browser for the built dataset in ``data_dir``.

    Shows up to ``max_images`` images (a ``seed``-ed sample when there are more); writes to ``out``
    (default ``data_dir/browse.html``) and returns that path.
    """
    data_dir = Path(data_dir)
    entries, images, manifest, stats = _read(data_dir)
    root = Path(manifest.get("data_root") or data_dir)
    image_rows: dict[str, dict[str, Any]] = {}
    if images is not None and "dicom_id" in images.columns:
        image_rows = {str(r["dicom_id"]): r for r in images.iter_rows(named=True)}
    by_image: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in entries.iter_rows(named=True):
        by_image[str(r.get("dicom_id"))].append(r)
    split_of = {d: str(rows[0].get("split", "")) for d, rows in by_image.items()}
    chosen = _choose(list(by_image), split_of, max(0, max_images), seed)
    records = "".join(_record_html(d, by_image[d], image_rows.get(d, {}), root) for d in chosen)

    splits = sorted({split_of[d] for d in chosen}, key=lambda s: (SPLITS.index(s) if s in SPLITS else 9, s))
    tasks = sorted({str(r.get("task")) for d in chosen for r in by_image[d]},
                   key=lambda t: (TASK_NAMES.index(t) if t in TASK_NAMES else 99, t))
    opt = "".join
    toolbar = (
        '<div class="toolbar"><button id="prev" type="button">◀ prev</button>'
        '<button id="next" type="button">next ▶</button><span class="pos" id="pos"></span>'
        '<label>split <select id="f-split"><option value="">all</option>'
        + opt(f'<option value="{html.escape(s)}">{html.escape(s)}</option>' for s in splits)
        + '</select></label><label>task <select id="f-task"><option value="">all</option>'
        + opt(f'<option value="{html.escape(t)}">{html.escape(t)}</option>' for t in tasks)
        + '</select></label><span class="note">← → keys page too</span></div>'
    )
    mode = stats.get("mode") or manifest.get("mode") or ""
    summary = (f"{len(chosen)} of {len(by_image)} images shown · {entries.height:,} entries in the dataset"
               + (f" · mode {mode}" if mode else "") + f" · images from {root}")
    legend = (f'<div class="legend"><span><span class="swatch" style="background:{TRUTH_COLOUR}"></span>rec answer'
              f'</span><span><span class="swatch" style="background:{PSEUDO_COLOUR}"></span>rec answer (pseudo)</span>'
              f'<span><span class="swatch" style="background:{QUERY_COLOUR}"></span>query box (dashed)</span></div>')
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>imax browse · {html.escape(data_dir.name)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><div class="inner"><h1>imax dataset browser · {html.escape(data_dir.name)}</h1>'
        f'<div class="meta">{html.escape(summary)}</div></div></header>{toolbar}'
        f'<main><div class="warn broken">Some images on this page failed to load.</div>{legend}'
        f'<div class="empty" id="empty">No image matches this filter.</div>{records}</main>'
        f"<script>{SELF_CHECK_JS}</script><script>{BROWSER_JS}</script></body></html>"
    )
    out = Path(out) if out is not None else data_dir / "browse.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
