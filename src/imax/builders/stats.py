"""Dataset statistics (``stats.json``) and the annotation → entry accounting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from imax.schema.errors import ImaxError
from imax.schema.records import SPLITS


def _block(counts: pl.DataFrame, pairs: pl.DataFrame) -> dict[str, Any]:
    """Totals from ``counts`` (task, n: entries per task) and ``pairs`` (distinct _img, _t)."""
    images = pairs["_img"].n_unique()
    entries = int(counts["n"].sum())
    return {
        "images": int(images),
        "entries": entries,
        "per_task_entries": {str(t): int(n) for t, n in sorted(counts.iter_rows())},
        "mean_tasks_per_image": pairs.height / images if images else 0.0,
        "mean_entries_per_image": entries / images if images else 0.0,
    }


def leaked_patients(entries: pl.DataFrame) -> dict[str, list[int]]:
    """Test patients that also appear in train or val entries, per split (empty lists: no leak)."""
    test = entries.filter(pl.col("split") == "test")["subject_id"].unique()
    out = {}
    for split in ("train", "val"):
        other = entries.filter(pl.col("split") == split)["subject_id"].unique()
        out[split] = sorted(int(s) for s in test.filter(test.is_in(other.implode())).to_list())
    return out


def dataset_stats(entries: pl.DataFrame, mode: str) -> dict[str, Any]:
    """stats.json: totals, per-task volumes, tasks and entries per image, overall and per split.

    One pass over the entries into small aggregates (distinct (split, image, task) triples and
    per-(split, task) counts), with exact integer codes for the 44-char ids (categorical)."""
    leaks = leaked_patients(entries)
    codes = entries.select(
        "split", pl.col("dicom_id").cast(pl.Categorical).to_physical().alias("_img"),
        pl.col("task").cast(pl.Categorical).to_physical().alias("_t"),
    )
    triples = codes.unique()
    counts = entries.group_by("split", "task").len("n")

    def block(split: str | None) -> dict[str, Any]:
        if split is None:
            return _block(counts.group_by("task").agg(pl.col("n").sum()), triples.select("_img", "_t").unique())
        return _block(counts.filter(pl.col("split") == split).select("task", "n"),
                      triples.filter(pl.col("split") == split).select("_img", "_t"))

    return {
        "mode": mode,
        **block(None),
        "per_split": {s: block(s) for s in SPLITS},
        "test_patients_in_train": len(leaks["train"]),
        "test_patients_in_val": len(leaks["val"]),
    }


def task_accounting(annotations_in: pl.DataFrame, orphans: pl.DataFrame, entries: pl.DataFrame) -> dict[str, Any]:
    """Per task: annotations read = quarantined (no image) + in store; in store = entries + unused
    (not selected: image has too few tasks, cap, or not drawn by DMAX). Every annotation accounted."""
    read = dict(annotations_in.group_by("task").len("n").iter_rows())
    orph = dict(orphans.group_by("task").agg(pl.col("n").sum()).iter_rows()) if orphans.height else {}
    ent = dict(entries.group_by("task").len("n").iter_rows())
    out = {}
    for task in sorted(set(read) | set(ent)):
        r, q, e = int(read.get(task, 0)), int(orph.get(task, 0)), int(ent.get(task, 0))
        out[task] = {"annotations": r, "quarantined": q, "entries": e, "unused": r - q - e}
    return out


def empty_build_error(mode: str, accounting: dict[str, Any], out: Path | None) -> ImaxError:
    """The one-line error of a build with no entry: what was read, what was quarantined, what is missing."""
    inputs = accounting["inputs"]
    read = sum(int(i["read"] or 0) for i in inputs)
    quarantined = sum(int(i["quarantined"] or 0) for i in inputs)
    missing = [m["source"] for m in accounting["missing_sources"]]
    where = f"; see {out / 'quarantine.csv'} and {out / 'stats.json'}" if out is not None else ""
    return ImaxError(f"the {mode} build has no entries: {len(inputs)} input file(s), {read} row(s) read, "
                     f"{quarantined} quarantined, {accounting['orphan_annotations']} annotation(s) without "
                     f"an image" + (f", sources not found: {', '.join(missing)}" if missing else "") + where)


def file_error(path: str, whole: list[tuple[str, str]]) -> str | None:
    """Why an input file was not read at all (its ``*`` quarantine row: ``whole`` = (file, reason)
    of those rows), else None."""
    for label, reason in whole:
        if label and (path == label or path.endswith("/" + label)):
            return reason
    return None
