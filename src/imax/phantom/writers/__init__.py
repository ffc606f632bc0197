"""One writer per native source; each writes the official file names and layouts (source-formats.md).

Shared here: deterministic CSV/gzip/JSON output (gzip mtime 0, no file name in the header, fixed
row order) so the same seed gives byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd


def write_csv(df: pd.DataFrame, path: Path) -> int:
    """Write ``df`` as CSV (gzip when ``path`` ends in .gz); returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    data = buf.getvalue().encode()
    if path.suffix == ".gz":
        with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(data)
    else:
        path.write_bytes(data)
    return len(df)


def write_json(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str) + "\n")
