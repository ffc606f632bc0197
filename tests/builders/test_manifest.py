"""manifest.json: the id covers content, not location; any content change changes it."""

from __future__ import annotations

import copy
import json
from typing import Any

from imax.builders.manifest import file_sha256, manifest_id


def test_id_ignores_paths_but_not_content(built: dict[str, Any]) -> None:
    m = json.loads((built["imax"].out / "manifest.json").read_text())
    moved = copy.deepcopy(m)
    moved["data_root"], moved["config"]["out"] = "/elsewhere", "/elsewhere/out"
    moved["inputs"][0]["path"] = "/other/disk/" + moved["inputs"][0]["path"].rsplit("/", 1)[-1]
    assert manifest_id(moved) == m["id"]
    changed = copy.deepcopy(m)
    changed["inputs"][0]["sha256"] = "f" * 64
    assert manifest_id(changed) != m["id"]
    changed = copy.deepcopy(m)
    changed["config"]["seed"] = 1
    assert manifest_id(changed) != m["id"]


def test_outputs_hashed(built: dict[str, Any]) -> None:
    out = built["dmax"].out
    m = json.loads((out / "manifest.json").read_text())
    assert {"entries.parquet", "llava/train.json", "stats.json"} <= set(m["outputs"])
    # absolute image paths: hashed beside the id, not in it (tests/builders/test_export.py)
    assert "hf/test.parquet" in m["exports"]["located_outputs"]
    assert m["outputs"]["entries.parquet"] == file_sha256(out / "entries.parquet")
