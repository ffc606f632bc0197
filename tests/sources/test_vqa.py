"""MIMIC-CXR-VQA JSON: path normalisation (no files/ prefix), sorted answer lists, typed-field quarantine."""

from __future__ import annotations

import json
from pathlib import Path

from imax.schema.config.sources import SourcesConfig
from imax.sources import read_sources

from ._util import A, C, D, E, quarantine_of, rows_of


def test_rows(mini_tables) -> None:  # type: ignore[no-untyped-def]
    rows = rows_of(mini_tables, "vqa")
    got = sorted(
        (r["meta"]["file"].rsplit("/", 1)[1], r["meta"]["line"], r["dicom_id"], r["answer"]["answers"])
        for r in rows
    )
    assert got == [
        ("train.json", 0, A, ["no"]),
        ("train.json", 1, E, ["left lung", "right lung"]),  # sorted; path already had files/
        ("train.json", 4, C, []),  # empty answer kept
        ("valid.json", 1, D, ["ap"]),
    ]
    r = next(r for r in rows if r["dicom_id"] == A)
    assert r["task"] == "vqa"
    assert r["query"] == {
        "question": "Is there any abnormality in the right lung?",
        "content_type": "presence",
        "semantic_type": "verify",
    }


def test_quarantine(mini_tables) -> None:  # type: ignore[no-untyped-def]
    assert quarantine_of(mini_tables, "train.json") == {
        2: ("image_path", "image_path escapes the data root (absolute or '..')"),
        3: ("image_id", "image_id not in metadata (or its image was quarantined)"),
    }
    assert quarantine_of(mini_tables, "valid.json") == {
        0: ("answer", "field answer has the wrong JSON type"),
        2: ("*", "list element is not a JSON object"),
    }


def test_bad_json_and_mismatched_ids(fresh_root: Path) -> None:
    ds = fresh_root / "MIMIC-Ext-MIMIC-CXR-VQA" / "dataset"
    (ds / "test.json").write_text('[{"image_id": ')
    items = json.loads((ds / "train.json").read_text())
    items[0]["study_id"] = "53189527"  # A belongs to study 50414267
    items[1]["image_path"] = "/abs/p10/x.jpg"
    (ds / "train.json").write_text(json.dumps(items))
    t = read_sources(fresh_root, SourcesConfig(only=("vqa",)))
    q = quarantine_of(t, "test.json")
    assert list(q) == [None] and q[None][0] == "*" and q[None][1].startswith("not valid JSON")
    q = quarantine_of(t, "train.json")
    assert q[0] == ("study_id", "study_id does not match metadata for this dicom_id")
    assert q[1][0] == "image_path"
