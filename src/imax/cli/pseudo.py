"""``imax pseudo``: the three-stage pseudo-IMAX strategy on a DMAX dataset."""

from __future__ import annotations

import json
from pathlib import Path

from imax.schema.config.pseudo import PseudoConfig

Config = PseudoConfig
HELP = "Three-stage pseudo-IMAX: train on DMAX, pseudo-label missing tasks, train on the result."


def _truth(path: Path | None):
    if path is None:
        return None
    import polars as pl

    if Path(path).is_dir():
        from imax.schema.config.sources import SourcesConfig
        from imax.sources import read_sources

        return read_sources(Path(path), SourcesConfig(check_images=False)).annotations
    from imax.schema.errors import ImaxError, MissingPathError
    from imax.schema.records import ANNOTATION_COLUMNS

    if not Path(path).is_file():
        raise MissingPathError(f"--truth {path}: no such folder or annotations parquet")
    try:
        table = pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for a non-parquet file
        raise ImaxError(f"--truth {path}: not a readable parquet file ({type(exc).__name__}: {exc})") from None
    missing = sorted(set(ANNOTATION_COLUMNS) - set(table.columns) - {"source", "meta"})
    if missing:
        raise ImaxError(f"--truth {path}: missing annotation column(s) {missing}")
    return table


def run(cfg: PseudoConfig) -> int:
    from imax.pseudo import run_pseudo

    result = run_pseudo(cfg, _truth(cfg.truth))
    print(f"stage 1: {result.stage1}\npseudo-IMAX data: {result.data} ({result.kept} kept of {result.generated} generated)")
    print(f"stage 3: {result.stage3}")
    if result.quality:
        print(json.dumps(result.quality, indent=2))
    return 0
