from __future__ import annotations

import pytest

from imax.data import EntryDataset, load_entries
from imax.schema.errors import ImaxError, MissingPathError
from imax.schema.records import ENTRY_COLUMNS


def test_entry_dataset_reads_split_and_data_root(dataset_dir):
    ds = EntryDataset(dataset_dir / "entries.parquet", "train")
    assert len(ds) == 3 and ds.data_root == dataset_dir
    row = ds[0]
    assert list(row) == list(ENTRY_COLUMNS) and row["split"] == "train" and isinstance(row["subject_id"], int)
    row["response"] = "changed"  # items are copies
    assert ds[0]["response"] != "changed"
    assert [e["id"] for e in load_entries(dataset_dir, "val")] == ["d3:calculation:0"]
    assert load_entries(dataset_dir, "test") == []


def test_bad_split_and_missing_files(dataset_dir, tmp_path):
    with pytest.raises(ImaxError, match="unknown split 'validate'"):
        load_entries(dataset_dir, "validate")
    with pytest.raises(MissingPathError, match="does not exist"):
        load_entries(tmp_path / "nowhere", "train")
    (dataset_dir / "manifest.json").unlink()
    with pytest.raises(MissingPathError, match=r"manifest\.json does not exist"):
        EntryDataset(dataset_dir / "entries.parquet", "train")
