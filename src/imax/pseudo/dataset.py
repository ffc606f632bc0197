"""Write the pseudo-IMAX dataset: the DMAX dataset plus kept pseudo entries in its train split."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from imax.builders.stats import dataset_stats
from imax.schema.records import ENTRY_COLUMNS, polars_schema

COPIED = ("images.parquet", "tasks.json", "quarantine.csv")


def write_pseudo_dataset(dmax_dir: Path, kept: Sequence[Mapping[str, Any]], out: Path) -> dict[str, Any]:
    """Copy ``dmax_dir`` to ``out`` with ``kept`` appended to the train entries; returns its stats.

    Real DMAX entries are kept verbatim (provenance "real"); every pseudo entry has provenance "pseudo".
    The manifest records the parent dataset's id and gets a new content id.
    """
    dmax_dir, out = Path(dmax_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    real = pl.read_parquet(dmax_dir / "entries.parquet")
    pseudo = pl.DataFrame(
        [{k: r[k] for k in ENTRY_COLUMNS} for r in kept], schema=polars_schema(ENTRY_COLUMNS)
    ).with_columns(pl.lit("train").alias("split"), pl.lit("pseudo").alias("provenance"))
    entries = pl.concat([real.select(list(ENTRY_COLUMNS)), pseudo])
    entries.write_parquet(out / "entries.parquet")
    for name in COPIED:
        if (dmax_dir / name).exists():
            shutil.copy2(dmax_dir / name, out / name)
    annotations = pl.read_parquet(dmax_dir / "annotations.parquet")
    extra = pseudo.select("dicom_id", "task", "source", "query", "answer").with_columns(
        pl.lit(json.dumps({"provenance": "pseudo"})).alias("meta")
    )
    pl.concat([annotations, extra.select(annotations.columns)]).write_parquet(out / "annotations.parquet")
    stats = dataset_stats(entries, "pseudo_imax")
    stats["pseudo_entries"] = pseudo.height
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    parent = json.loads((dmax_dir / "manifest.json").read_text())
    digest = hashlib.sha256((out / "entries.parquet").read_bytes()).hexdigest()
    manifest = {
        **{k: v for k, v in parent.items() if k != "id"},
        "id": hashlib.sha256(f"{parent['id']}:{digest}".encode()).hexdigest(),
        "format": "imax-pseudo/1",
        "parent": {"id": parent["id"], "path": str(dmax_dir.resolve())},
        "pseudo_entries": pseudo.height,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return stats
