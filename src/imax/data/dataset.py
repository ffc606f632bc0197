"""Stage 1 of the data path: the built dataset's entries.parquet rows as plain dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from torch.utils.data import Dataset

from imax.schema.errors import ImaxError, MissingPathError
from imax.schema.records import ENTRY_COLUMNS, SPLITS


def read_data_root(data_dir: Path) -> Path:
    """``manifest.json["data_root"]`` of a built dataset (the directory entry image paths are relative to)."""
    manifest = Path(data_dir) / "manifest.json"
    if not manifest.is_file():
        raise MissingPathError(
            f"{manifest} does not exist: is {str(data_dir)!r} an `imax build --out` directory?"
        )
    root = json.loads(manifest.read_text()).get("data_root")
    if not isinstance(root, str):
        raise ImaxError(f"{manifest}: no string 'data_root'")
    return Path(root)


def read_entries(entries_parquet: Path, split: str) -> list[dict[str, Any]]:
    """Rows of one split of ``entries.parquet`` as dicts with the ENTRY_COLUMNS keys, in file order."""
    entries_parquet = Path(entries_parquet)
    if split not in SPLITS:
        raise ImaxError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    if not entries_parquet.is_file():
        raise MissingPathError(f"entries file {str(entries_parquet)!r} does not exist")
    table = pq.read_table(entries_parquet, filters=[("split", "=", split)])
    missing = sorted(set(ENTRY_COLUMNS) - set(table.column_names))
    if missing:
        raise ImaxError(f"{entries_parquet}: missing entry column(s) {missing}")
    return table.select(list(ENTRY_COLUMNS)).to_pylist()


def load_entries(data_dir: Path, split: str) -> list[dict[str, Any]]:
    """Entries of ``split`` from a built dataset directory (``DIR/entries.parquet``)."""
    return read_entries(Path(data_dir) / "entries.parquet", split)


class EntryDataset(Dataset):
    """Map-style dataset over one split of entries.parquet; item i is the i-th row as a dict.

    ``data_root`` (from the manifest.json beside the parquet) is where the rows' ``image`` paths live.
    """

    def __init__(self, entries_parquet: Path, split: str) -> None:
        self.path = Path(entries_parquet)
        self.split = split
        self.entries = read_entries(self.path, split)
        self.data_root = read_data_root(self.path.parent)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(self.entries[index])
