"""``manifest.json``: what a built dataset was made from and how, with a content id.

The id is the sha256 of the canonical JSON of everything that determines the content: the inputs
(source, file name, sha256, row counts), the resolved config without its local paths, package versions
and the sha256 of every output file. Absolute paths (``data_root``, input paths, ``out``) are recorded
but left out of the id, so the same data built in another folder has the same id.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from imax.schema.config import to_dict
from imax.schema.config.build import BuildConfig
from imax.sources.base import SourceTables

PACKAGES = ("imax", "polars", "pyarrow", "numpy", "datasets")
PATH_KEYS = ("sources", "out")


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def make_manifest(
    tables: SourceTables,
    cfg: BuildConfig,
    out: Path,
    outputs: list[Path],
    accounting: dict[str, Any],
    hashes: Mapping[Path, str] | None = None,
) -> dict[str, Any]:
    """The manifest dict (``id`` first) for a build written under ``out``.

    ``hashes``: sha256 of outputs already hashed by the writer (right after writing, beside the other
    writes); any output not in it is hashed here."""
    hashes = hashes or {}
    body = {
        "format": "imax-build/1",
        "inputs": [asdict(i) for i in tables.inputs],
        "missing_sources": sorted(tables.missing),
        "config": to_dict(cfg),
        "versions": versions(),
        "outputs": {str(p.relative_to(out)): hashes.get(p) or file_sha256(p) for p in sorted(outputs)},
        "data_root": str(Path(tables.data_root).resolve()) if tables.data_root is not None else None,
        "accounting": accounting,
    }
    return {"id": manifest_id(body), **body}


def manifest_id(manifest: dict[str, Any]) -> str:
    """The content id of a manifest (recompute it to verify a loaded one)."""
    content = {
        "format": manifest["format"],
        "inputs": [
            {k: v for k, v in i.items() if k != "path"} | {"name": Path(i["path"]).name} for i in manifest["inputs"]
        ],
        "missing_sources": manifest["missing_sources"],
        "config": {k: v for k, v in manifest["config"].items() if k not in PATH_KEYS},
        "versions": manifest["versions"],
        "outputs": manifest["outputs"],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
