"""Exports of the entries: LLaVA conversation JSONL and Hugging Face-loadable parquet, per split.

LLaVA line: ``{"id", "image", "conversations": [{"from": "human", "value": "<image>\\n" + instruction},
{"from": "gpt", "value": response}], "task", "split"}``; ``image`` is relative to the manifest's
``data_root``. The HF parquet holds ENTRY_COLUMNS as plain strings/ints (no dataset script needed).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from imax.schema.records import SPLITS

IMAGE_TOKEN = "<image>"
_LLAVA_ROWS = 200_000


def _json_obj(*cols: str) -> pl.Expr:
    """``{"col": value, ...}`` JSON text of string columns (polars escapes them)."""
    return pl.struct(*cols).struct.json_encode()


def llava_lines(entries: pl.DataFrame) -> pl.Series:
    """Entries → one LLaVA JSON object per line, built as text (vectorised).

    Why text: a list of two structs per row (``concat_list`` of structs) costs ~15 µs a row in polars
    2.1, a string concatenation of json_encode'd structs ~1 µs."""
    human = pl.struct(pl.lit("human").alias("from"), (pl.lit(IMAGE_TOKEN + "\n") + pl.col("instruction")).alias("value"))
    gpt = pl.struct(pl.lit("gpt").alias("from"), pl.col("response").alias("value"))
    head = _json_obj("id", "image").str.head(-1)  # drop the closing brace
    tail = _json_obj("task", "split").str.tail(-1)  # drop the opening brace
    line = pl.concat_str([head, pl.lit(',"conversations":['), human.struct.json_encode(), pl.lit(","),
                          gpt.struct.json_encode(), pl.lit("],"), tail])
    return entries.select(line.alias("line"))["line"]


def write_llava(entries: pl.DataFrame, out: Path) -> list[Path]:
    """Write ``out/llava/{split}.jsonl`` for every split (an empty split gives an empty file).

    Lines are built and written ``_LLAVA_ROWS`` at a time: at MIMIC size the train file is ~1 GB of
    text, which as one column would be the build's peak memory."""
    (out / "llava").mkdir(parents=True, exist_ok=True)
    paths = []
    for split in SPLITS:
        path = out / "llava" / f"{split}.jsonl"
        part = entries.filter(pl.col("split") == split)
        with path.open("wb") as f:
            for start in range(0, part.height, _LLAVA_ROWS):
                lines = llava_lines(part.slice(start, _LLAVA_ROWS))
                # json_encode escapes newlines and quotes, so each value is one raw line: write them unquoted
                pl.DataFrame({"line": lines}).write_csv(f, include_header=False, quote_style="never")
        paths.append(path)
    return paths


def write_hf(entries: pl.DataFrame, out: Path) -> list[Path]:
    """Write ``out/hf/{split}.parquet`` (``datasets.load_dataset("parquet", data_files=...)``)."""
    (out / "hf").mkdir(parents=True, exist_ok=True)
    paths = []
    for split in SPLITS:
        path = out / "hf" / f"{split}.parquet"
        entries.filter(pl.col("split") == split).write_parquet(path)
        paths.append(path)
    return paths
