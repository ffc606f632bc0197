"""Exports load: LLaVA JSONL parses, the HF parquet loads with ``datasets`` offline."""

from __future__ import annotations

import json
from typing import Any

import pytest


def test_llava_jsonl_parses(built: dict[str, Any]) -> None:
    r = built["imax"]
    for split in ("train", "val", "test"):
        lines = (r.out / "llava" / f"{split}.jsonl").read_text().splitlines()
        assert len(lines) == r.stats["per_split"][split]["entries"]
        row = json.loads(lines[0])
        assert set(row) >= {"id", "image", "conversations"}
        human, gpt = row["conversations"]
        assert human["from"] == "human" and human["value"].startswith("<image>\n[")
        assert gpt["from"] == "gpt" and gpt["value"]


def test_hf_parquet_loads_with_datasets(built: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    r = built["dmax"]
    files = {s: str(r.out / "hf" / f"{s}.parquet") for s in ("train", "test")}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert ds["test"].num_rows == r.stats["per_split"]["test"]["entries"]
    assert ds["train"].num_rows == r.stats["per_split"]["train"]["entries"]
    assert ds["test"][0]["instruction"].startswith("[")


def test_llava_lines_escape_awkward_text(tmp_path) -> None:
    import polars as pl

    from imax.builders.export import write_llava

    text = 'a "quoted", multi\nline\ttext — with ünïcode and a backslash \\ and {<1><2><3><4>}'
    entries = pl.DataFrame({"id": ["d:report:0"], "image": ["files/p10/x.jpg"], "instruction": ["[caption] " + text],
                            "response": [text], "task": ["report"], "split": ["val"]})
    write_llava(entries, tmp_path)
    lines = (tmp_path / "llava" / "val.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["conversations"][0]["value"] == "<image>\n[caption] " + text
    assert row["conversations"][1]["value"] == text
    assert (tmp_path / "llava" / "train.jsonl").read_text() == ""


def test_llava_written_in_chunks_is_the_same_file(built: dict[str, Any], tmp_path, monkeypatch) -> None:
    from imax.builders import export

    entries = built["imax"].entries
    export.write_llava(entries, tmp_path / "one")
    monkeypatch.setattr(export, "_LLAVA_ROWS", 7)
    export.write_llava(entries, tmp_path / "many")
    for split in ("train", "val", "test"):
        one = (tmp_path / "one" / "llava" / f"{split}.jsonl").read_bytes()
        assert one and one == (tmp_path / "many" / "llava" / f"{split}.jsonl").read_bytes()


def test_exports_of_interleaved_splits_match_the_filtered_ones(built: dict[str, Any], tmp_path) -> None:
    """Splits not in one block (split_rows falls back to a filter) give the same files as in blocks."""
    import polars as pl

    from imax.builders import export

    entries = built["imax"].entries
    export.write_llava(entries, tmp_path / "blocks")
    mixed = entries.sort("id")  # the splits interleave
    assert mixed["split"].rle_id().max() > 2
    export.write_llava(mixed, tmp_path / "mixed")
    for split in ("train", "val", "test"):
        want = llava_of(mixed.filter(pl.col("split") == split))
        assert (tmp_path / "mixed" / "llava" / f"{split}.jsonl").read_text() == want
        assert export.split_rows(entries, split).equals(entries.filter(pl.col("split") == split))


def llava_of(entries: Any) -> str:
    """The reference JSONL text: one line per entry from ``llava_lines``."""
    from imax.builders.export import llava_lines

    return "".join(line + "\n" for line in llava_lines(entries).to_list())
