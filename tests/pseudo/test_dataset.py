import json

import polars as pl

from imax.pseudo.dataset import write_pseudo_dataset
from imax.schema.records import ENTRY_COLUMNS, polars_schema


def _dmax(tmp_path):
    d = tmp_path / "dmax"
    d.mkdir()
    rows = [
        {"id": "a:report:0", "dicom_id": "a", "subject_id": 1, "split": "train", "task": "report", "source": "reports",
         "query": "{}", "answer": json.dumps({"text": "ok"}), "instruction": "[caption] x", "response": "ok",
         "image": "a.jpg", "provenance": "real"},
        {"id": "t:report:0", "dicom_id": "t", "subject_id": 9, "split": "test", "task": "report", "source": "reports",
         "query": "{}", "answer": json.dumps({"text": "ok"}), "instruction": "[caption] x", "response": "ok",
         "image": "t.jpg", "provenance": "real"},
    ]
    pl.DataFrame(rows, schema=polars_schema(ENTRY_COLUMNS)).write_parquet(d / "entries.parquet")
    pl.DataFrame({"dicom_id": ["a"], "task": ["report"], "source": ["reports"], "query": ["{}"],
                  "answer": [json.dumps({"text": "ok"})], "meta": ["{}"]}).write_parquet(d / "annotations.parquet")
    pl.DataFrame({"dicom_id": ["a", "t"]}).write_parquet(d / "images.parquet")
    (d / "manifest.json").write_text(json.dumps({"id": "parent123", "data_root": "/data"}))
    return d


def test_pseudo_dataset_appends_train_entries_with_provenance(tmp_path):
    kept = [{"id": "a:vqa:pseudo0", "dicom_id": "a", "subject_id": 1, "split": "train", "task": "vqa", "source": "pseudo",
             "query": json.dumps({"question": "q"}), "answer": json.dumps({"answers": ["yes"]}),
             "instruction": "[vqa] q", "response": "yes", "image": "a.jpg", "provenance": "pseudo", "confidence": -0.1}]
    stats = write_pseudo_dataset(_dmax(tmp_path), kept, tmp_path / "out")
    entries = pl.read_parquet(tmp_path / "out" / "entries.parquet")
    assert entries.height == 3
    assert entries.filter(pl.col("provenance") == "pseudo")["id"].to_list() == ["a:vqa:pseudo0"]
    assert entries.filter(pl.col("split") == "test").height == 1  # test untouched
    assert stats["pseudo_entries"] == 1 and stats["per_split"]["train"]["mean_tasks_per_image"] == 2.0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["parent"]["id"] == "parent123" and manifest["id"] != "parent123"
    assert manifest["data_root"] == "/data"
    assert pl.read_parquet(tmp_path / "out" / "annotations.parquet").height == 2
