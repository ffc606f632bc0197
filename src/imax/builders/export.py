"""Exports of the entries: LLaVA conversation JSONL and Hugging Face-loadable parquet, per split.

LLaVA line: ``{"id", "image", "conversations": [{"from": "human", "value": "<image>\\n" + instruction},
{"from": "gpt", "value": response}], "task", "split"}``; ``image`` is relative to the manifest's
``data_root``. The HF parquet holds ENTRY_COLUMNS as plain strings/ints (no dataset script needed).
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from imax.schema.records import SPLITS

IMAGE_TOKEN = "<image>"
_LLAVA_ROWS = 200_000
_LLAVA_AHEAD = 2


def _json_obj(*cols: str) -> pl.Expr:
    """``{"col": value, ...}`` JSON text of string columns (polars escapes them)."""
    return pl.struct(*cols).struct.json_encode()


def _llava_line() -> pl.Expr:
    """One LLaVA JSON object per row, built as text (vectorised).

    Why text: a list of two structs per row (``concat_list`` of structs) costs ~15 µs a row in polars
    2.1, a string concatenation of json_encode'd structs ~1 µs."""
    human = pl.struct(pl.lit("human").alias("from"), (pl.lit(IMAGE_TOKEN + "\n") + pl.col("instruction")).alias("value"))
    gpt = pl.struct(pl.lit("gpt").alias("from"), pl.col("response").alias("value"))
    head = _json_obj("id", "image").str.head(-1)  # drop the closing brace
    tail = _json_obj("task", "split").str.tail(-1)  # drop the opening brace
    return pl.concat_str([head, pl.lit(',"conversations":['), human.struct.json_encode(), pl.lit(","),
                          gpt.struct.json_encode(), pl.lit("],"), tail])


def llava_lines(entries: pl.DataFrame) -> pl.Series:
    """Entries → one LLaVA JSON object per line (see :func:`_llava_line`)."""
    return entries.select(_llava_line().alias("line"))["line"]


def _llava_block(part: pl.DataFrame) -> list[memoryview]:
    """The JSONL bytes of some entries: each line newline-terminated (a null line is empty, as a CSV
    writer would leave it), taken straight from the Arrow data buffer of the lines.

    Why not ``write_csv``: it writes to a Python file object holding the GIL (two threads build blocks
    no faster than one) and costs a third more CPU than this copy."""
    lines = part.select(pl.concat_str([_llava_line().fill_null(""), pl.lit("\n")]).alias("line"))["line"]
    arr = lines.to_arrow()
    views = []
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        chunk = chunk.cast(pa.large_string())
        if len(chunk) == 0:
            continue
        off = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        views.append(memoryview(chunk.buffers()[2])[int(off[0]) : int(off[-1])])
    return views


def split_rows(entries: pl.DataFrame, split: str) -> pl.DataFrame:
    """The entries of one split, in order: a zero-copy slice when they are one block (the build writes
    train, val, test one after another), else a filter.

    Why: a filter copies every column of the ~1 GB entries table per split (twice: LLaVA and HF)."""
    idx = entries.get_column("split").eq(split).arg_true()
    if idx.len() == 0:
        return entries.clear()
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    if hi - lo == idx.len():
        return entries.slice(lo, hi - lo)
    return entries.filter(pl.col("split") == split)


def write_llava(entries: pl.DataFrame, out: Path) -> list[Path]:
    """Write ``out/llava/{split}.jsonl`` for every split (an empty split gives an empty file).

    Lines are built and written ``_LLAVA_ROWS`` at a time: at MIMIC size the train file is ~1 GB of
    text, which as one column would be the build's peak memory. The blocks are built on two threads
    (one concat_str column keeps polars on one core; it releases the GIL) and written in order, at most
    ``_LLAVA_AHEAD`` blocks ahead of the writer."""
    (out / "llava").mkdir(parents=True, exist_ok=True)
    paths = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for split in SPLITS:
            path = out / "llava" / f"{split}.jsonl"
            part = split_rows(entries, split)
            with path.open("wb") as f:
                pending: deque[Future[list[memoryview]]] = deque()
                for start in range(0, part.height, _LLAVA_ROWS):
                    pending.append(pool.submit(_llava_block, part.slice(start, _LLAVA_ROWS)))
                    if len(pending) > _LLAVA_AHEAD:
                        f.writelines(pending.popleft().result())
                while pending:
                    f.writelines(pending.popleft().result())
            paths.append(path)
    return paths


def write_hf(entries: pl.DataFrame, out: Path) -> list[Path]:
    """Write ``out/hf/{split}.parquet`` (``datasets.load_dataset("parquet", data_files=...)``)."""
    (out / "hf").mkdir(parents=True, exist_ok=True)
    paths = []
    for split in SPLITS:
        path = out / "hf" / f"{split}.parquet"
        split_rows(entries, split).write_parquet(path)
        paths.append(path)
    return paths
