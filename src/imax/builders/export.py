"""Exports of the entries in the formats the field's trainers read as shipped.

* ``llava/{train,val,test}.json``: LLaVA's data format, one JSON **array** per split (LLaVA's and
  LLaVA-NeXT's ``LazySupervisedDataset`` both ``json.load`` the data path). Each element is
  ``{"id", "image", "conversations": [{"from": "human", "value": "<image>\\n" + instruction},
  {"from": "gpt", "value": response}], "task", "split"}``; ``image`` is relative to the manifest's
  ``data_root``, which is the ``--image_folder`` to pass (LLaVA opens ``os.path.join(image_folder,
  image)``).
* ``llava/train.yaml``: LLaVA-NeXT's data list (``datasets: [{json_path, sampling_strategy}]``, passed as
  ``--data_path``), pointing at the absolute path of ``train.json``.
* ``llava/README.md``: the image folder and the command-line arguments for both trainers.
* ``hf/{train,val,test}.parquet``: ENTRY_COLUMNS plus ``image_path`` (relative to ``data_root``), with
  ``image`` either the absolute image path (default) or the image bytes (``embed=True``), and the
  ``datasets`` features in the parquet metadata, so ``datasets.load_dataset("parquet", ...)`` yields a
  decodable ``Image`` column (and ``cast_column("image", datasets.Image())`` works).
* ``hf/README.md``: the dataset card (YAML header with configs, features and splits; provenance with the
  manifest id; the licence note).

Which files depend on where things are (absolute paths): the YAML, both READMEs and the HF parquet with
path images. They are written by :func:`write_pointers` after the manifest id is computed and recorded in
``manifest["exports"]``, outside the id (which covers content, not location; see
:mod:`imax.builders.manifest`). The LLaVA JSON and an embedded HF parquet are location-free and hashed
into the id like every other output.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from imax.schema.errors import InputError, MissingPathError
from imax.schema.records import ENTRY_COLUMNS, SPLITS

IMAGE_TOKEN = "<image>"
LLAVA_DIR, HF_DIR = "llava", "hf"
LLAVA_YAML = "train.yaml"
_LLAVA_ROWS = 200_000
_LLAVA_AHEAD = 2
_HF_EMBED_ROWS = 2_000
"""Rows per parquet row group when images are embedded: bounds the image bytes held in memory."""
_HF_ROWS = 131_072
"""Rows per parquet row group of a path-image HF file: the split goes to Arrow (large strings, a copy of
its text) a block at a time. The whole MIMIC-size train split at once was ~1.4 GB over the build's peak."""
_REQUIRED = ("id", "image", "instruction", "response")
"""Fields every LLaVA element needs: a null one would make the element unreadable to the trainers."""

LICENCE_NOTE = (
    "Built from MIMIC-CXR-derived sources (MIMIC-CXR, MIMIC-CXR-JPG and annotation sets defined on them). "
    "Data derived from MIMIC falls under the PhysioNet Credentialed Health Data License and its Data Use "
    "Agreement: only credentialed PhysioNet users who signed the DUA of every source may obtain, use or "
    "share it, and it must not be uploaded to a public hub. The phantom (synthetic) sources shipped with "
    "imax carry no patient data."
)


# ---- LLaVA JSON -----------------------------------------------------------------------------------------
def _json_obj(*cols: str) -> pl.Expr:
    """``{"col": value, ...}`` JSON text of string columns (polars escapes them)."""
    return pl.struct(*cols).struct.json_encode()


def _llava_element() -> pl.Expr:
    """One LLaVA JSON object per row, built as text (vectorised).

    Why text: a list of two structs per row (``concat_list`` of structs) costs ~15 µs a row in polars
    2.1, a string concatenation of json_encode'd structs ~1 µs."""
    human = pl.struct(pl.lit("human").alias("from"), (pl.lit(IMAGE_TOKEN + "\n") + pl.col("instruction")).alias("value"))
    gpt = pl.struct(pl.lit("gpt").alias("from"), pl.col("response").alias("value"))
    head = _json_obj("id", "image").str.head(-1)  # drop the closing brace
    tail = _json_obj("task", "split").str.tail(-1)  # drop the opening brace
    return pl.concat_str([head, pl.lit(',"conversations":['), human.struct.json_encode(), pl.lit(","),
                          gpt.struct.json_encode(), pl.lit("],"), tail])


def llava_elements(entries: pl.DataFrame) -> pl.Series:
    """Entries → one LLaVA JSON object (text) per entry (see :func:`_llava_element`)."""
    return entries.select(_llava_element().alias("element"))["element"]


def _check_required(entries: pl.DataFrame, where: Path) -> None:
    """Raise one clear line for the first entry lacking a field LLaVA needs (never write a broken array)."""
    for name in _REQUIRED:
        bad = entries.get_column(name).is_null()
        if bad.any():
            row = int(bad.arg_true()[0])
            ident = entries.get_column("id")[row]
            raise InputError(str(where), None, name, f"entry {ident!r} (row {row + 1} of the split) is null")


def _llava_block(part: pl.DataFrame, first: bool) -> list[memoryview]:
    """The bytes of some array elements, each preceded by ``",\\n"`` (``"\\n"`` for the split's first
    element when ``first``), taken straight from the Arrow data buffer of the text column.

    Why not ``write_csv`` / ``json.dumps``: the former writes to a Python file object holding the GIL (two
    threads build blocks no faster than one) and costs a third more CPU than this copy; the latter is ~20x
    slower per row."""
    lines = part.select(pl.concat_str([pl.lit(",\n"), _llava_element()]).alias("element"))["element"]
    arr = lines.to_arrow()
    views = []
    for chunk in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
        chunk = chunk.cast(pa.large_string())
        if len(chunk) == 0:
            continue
        off = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
        views.append(memoryview(chunk.buffers()[2])[int(off[0]) : int(off[-1])])
    if first and views:
        views[0] = views[0][1:]  # the first element has no separator comma
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
    """Write ``out/llava/{split}.json`` for every split: a JSON array (an empty split gives ``[]``).

    Elements are built and written ``_LLAVA_ROWS`` at a time: at MIMIC size the train file is ~1 GB of
    text, which as one column would be the build's peak memory. The blocks are built on two threads
    (one concat_str column keeps polars on one core; it releases the GIL) and written in order, at most
    ``_LLAVA_AHEAD`` blocks ahead of the writer."""
    (out / LLAVA_DIR).mkdir(parents=True, exist_ok=True)
    paths = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for split in SPLITS:
            path = out / LLAVA_DIR / f"{split}.json"
            part = split_rows(entries, split)
            _check_required(part, path)
            with path.open("wb") as f:
                f.write(b"[")
                pending: deque[Future[list[memoryview]]] = deque()
                for start in range(0, part.height, _LLAVA_ROWS):
                    pending.append(pool.submit(_llava_block, part.slice(start, _LLAVA_ROWS), start == 0))
                    if len(pending) > _LLAVA_AHEAD:
                        f.writelines(pending.popleft().result())
                while pending:
                    f.writelines(pending.popleft().result())
                f.write(b"\n]\n" if part.height else b"]\n")
            paths.append(path)
    return paths


# ---- HF parquet ----------------------------------------------------------------------------------------
def _feature(t: pa.DataType) -> dict[str, str]:
    """The ``datasets`` feature JSON of a plain Arrow column type."""
    names = {pa.string(): "string", pa.large_string(): "large_string", pa.int64(): "int64", pa.int32(): "int32",
             pa.float64(): "float64", pa.bool_(): "bool"}
    if t not in names:
        raise TypeError(f"no datasets feature for Arrow type {t}")
    return {"dtype": names[t], "_type": "Value"}


_ARROW = {"str": pa.large_string(), "i64": pa.int64()}
"""ENTRY_COLUMNS' type names → Arrow types of the HF files (large strings: a MIMIC-size split's text is
past the 2 GB offsets of ``pa.string()``)."""


def _hf_schema(embed: bool) -> pa.Schema:
    """Arrow schema of an HF split file: ENTRY_COLUMNS with ``image`` a path string or ``{bytes, path}``,
    then ``image_path`` (relative); the ``datasets`` features in the schema metadata."""
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())]) if embed else pa.string()
    fields = [pa.field(n, image_type if n == "image" else _ARROW[t]) for n, t in ENTRY_COLUMNS.items()]
    fields.append(pa.field("image_path", pa.string()))
    features = {f.name: ({"_type": "Image"} if f.name == "image" else _feature(f.type)) for f in fields}
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features}})})


def _resolve_images(paths: pa.Array, data_root: Path | None) -> pa.Array:
    """Relative image paths → absolute ones under ``data_root`` (as they are when it is unknown)."""
    if data_root is None:
        return paths.cast(pa.string())
    root = str(Path(data_root).resolve()).rstrip("/") + "/"
    return pc.binary_join_element_wise(root, paths.cast(pa.string()), "")


def _embedded(paths: list[str], data_root: Path | None, where: Path, first_row: int) -> pa.Array:
    """``{bytes, path}`` structs of the image files (``path`` stays relative: the bytes are the image)."""
    if data_root is None:
        raise MissingPathError(f"{where}: embedding images needs the sources' data_root, which this build "
                               "has none of")
    blobs = []
    for k, rel in enumerate(paths):
        file = Path(data_root) / rel
        if not file.is_file():
            raise InputError(str(where), first_row + k + 1, "image", f"image file {str(file)!r} does not exist")
        blobs.append(file.read_bytes())
    return pa.StructArray.from_arrays([pa.array(blobs, pa.binary()), pa.array(paths, pa.string())],
                                      names=["bytes", "path"])


def _hf_batches(part: pl.DataFrame, schema: pa.Schema, data_root: Path | None, embed: bool,
                where: Path) -> Iterator[pa.Table]:
    """The split as Arrow tables in the HF schema, one per row group (bounded memory)."""
    step = _HF_EMBED_ROWS if embed else _HF_ROWS
    for start in range(0, part.height, step):
        tbl = part.slice(start, step).select(list(ENTRY_COLUMNS)).to_arrow()
        rel = tbl.column("image").combine_chunks().cast(pa.string())
        image = (_embedded(rel.to_pylist(), data_root, where, start) if embed
                 else _resolve_images(rel, data_root))
        tbl = tbl.set_column(tbl.schema.get_field_index("image"), "image", image).append_column("image_path", rel)
        yield tbl.cast(schema)


def write_hf(entries: pl.DataFrame, out: Path, data_root: Path | None = None, embed: bool = False) -> list[Path]:
    """Write ``out/hf/{split}.parquet``: loadable by ``datasets.load_dataset("parquet", data_files=...)``
    with ``image`` decodable as ``datasets.Image`` (absolute path, or the bytes when ``embed``).

    Args:
        entries: ENTRY_COLUMNS (``image`` relative to ``data_root``).
        data_root: the folder the image paths are relative to (the manifest's ``data_root``); None when the
            build has none (then paths stay relative and ``embed`` is refused).
        embed: store each image's bytes in the file (self-contained and location-free; the file is as big
            as the images, repeated for every entry of an image).
    """
    (out / HF_DIR).mkdir(parents=True, exist_ok=True)
    schema = _hf_schema(embed)
    paths = []
    for split in SPLITS:
        path = out / HF_DIR / f"{split}.parquet"
        part = split_rows(entries, split)
        with pq.ParquetWriter(path, schema) as writer:
            for tbl in _hf_batches(part, schema, data_root, embed, path):
                writer.write_table(tbl)
            if part.height == 0:
                writer.write_table(schema.empty_table())
        paths.append(path)
    return paths


# ---- files that point at locations (written after the manifest id) ------------------------------------
def _yaml_str(s: str) -> str:
    """A YAML scalar: JSON's double-quoted string is valid YAML and escapes everything."""
    return json.dumps(s)


def write_pointers(out: Path, manifest: Mapping[str, Any], counts: Mapping[str, int], *, llava: bool, hf: bool,
                   embed: bool = False) -> tuple[dict[str, Any], list[Path]]:
    """Write the location-bound files: ``llava/train.yaml`` + ``llava/README.md`` (when ``llava``) and the
    dataset card ``hf/README.md`` (when ``hf``).

    Args:
        out: the built dataset directory.
        manifest: the manifest (``id``, ``data_root``, ``inputs``, ``versions``, ``config``).
        counts: entries per split.
    Returns:
        (info, the files written). info goes to ``manifest["exports"]``: ``image_folder`` (the
        ``--image_folder`` to pass to LLaVA), ``llava_data_path`` (train.json) and ``llava_next_data_path``
        (the YAML), ``hf_images`` (``"absolute"``, ``"embedded"`` or ``"relative"`` when no data_root is
        known).
    """
    out = Path(out).resolve()
    root = manifest.get("data_root")
    info: dict[str, Any] = {"image_folder": root}
    written: list[Path] = []
    if llava:
        train_json = out / LLAVA_DIR / "train.json"
        (out / LLAVA_DIR / LLAVA_YAML).write_text(
            "# LLaVA-NeXT data list (--data_path); images relative to --image_folder (see README.md)\n"
            f"datasets:\n  - json_path: {_yaml_str(str(train_json))}\n    sampling_strategy: all\n")
        (out / LLAVA_DIR / "README.md").write_text(_llava_readme(out, root, manifest["id"], counts))
        written += [out / LLAVA_DIR / LLAVA_YAML, out / LLAVA_DIR / "README.md"]
        info |= {"llava_data_path": str(train_json), "llava_next_data_path": str(out / LLAVA_DIR / LLAVA_YAML)}
    if hf:
        sizes = {s: _uncompressed_bytes(out / HF_DIR / f"{s}.parquet") for s in SPLITS}
        (out / HF_DIR / "README.md").write_text(dataset_card(manifest, counts, embed=embed, num_bytes=sizes))
        written.append(out / HF_DIR / "README.md")
        info["hf_images"] = "embedded" if embed else ("absolute" if root is not None else "relative")
    return info, written


def _uncompressed_bytes(path: Path) -> int:
    """The uncompressed data size of a parquet file (its row groups' ``total_byte_size``)."""
    meta = pq.read_metadata(path)
    return sum(meta.row_group(k).total_byte_size for k in range(meta.num_row_groups))


def _llava_readme(out: Path, root: str | None, manifest_id: str, counts: Mapping[str, int]) -> str:
    folder = root if root is not None else "<the folder the image paths are relative to: this build recorded none>"
    sizes = ", ".join(f"{s} {counts.get(s, 0)}" for s in SPLITS)
    return f"""# LLaVA export of imax dataset {manifest_id}

Entries: {sizes}. `{{train,val,test}}.json` are JSON arrays of
`{{id, image, conversations: [{{from: human, value: "<image>\\n..."}}, {{from: gpt, value: ...}}], task, split}}`;
`image` is relative to the image folder:

    image folder: {folder}

LLaVA (haotian-liu/LLaVA, `llava/train/train.py`):

    --data_path {out / LLAVA_DIR / "train.json"} --image_folder {folder} --image_aspect_ratio pad

LLaVA-NeXT (LLaVA-VL/LLaVA-NeXT) reads the same array, or the data list `{LLAVA_YAML}`:

    --data_path {out / LLAVA_DIR / LLAVA_YAML} --image_folder {folder}

`--image_aspect_ratio pad` keeps the whole image; box coordinates in the answers refer to the original
(unpadded) image.
This folder's absolute paths are this build's: rebuild (or edit them) after moving it.
"""


def dataset_card(manifest: Mapping[str, Any], counts: Mapping[str, int], *, embed: bool = False,
                 num_bytes: Mapping[str, int] | None = None) -> str:
    """The ``hf/README.md`` dataset card: YAML header (licence, configs, features, splits) + provenance.

    ``num_bytes``: per split, the uncompressed size of its data (the card's ``splits`` entries need it)."""
    num_bytes = num_bytes or {}
    root = manifest.get("data_root")
    mode = str(manifest.get("config", {}).get("mode", ""))
    schema = _hf_schema(embed)
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    lines = ["---", "license: other", "license_name: physionet-credentialed-health-data-1.5.0",
             "license_link: https://physionet.org/content/mimic-cxr/view-license/2.1.0/",
             f"pretty_name: {_yaml_str(f'imax instruction data ({mode.upper()} build)')}",
             "task_categories:", "  - visual-question-answering", "  - image-text-to-text",
             "tags:", "  - medical", "  - chest-x-ray", "  - radiology",
             "configs:", "  - config_name: default", "    data_files:"]
    lines += [f"      - split: {s}\n        path: {s}.parquet" for s in SPLITS]
    lines += ["dataset_info:", "  features:"]
    for name, feat in features.items():
        lines.append(f"    - name: {name}\n      dtype: {'image' if feat['_type'] == 'Image' else feat['dtype']}")
    lines += ["  splits:"] + [f"    - name: {s}\n      num_bytes: {int(num_bytes.get(s, 0))}\n"
                              f"      num_examples: {int(counts.get(s, 0))}" for s in SPLITS]
    lines.append("---")
    how = ("embedded in the files (bytes)" if embed else
           f"absolute paths under `{root}`" if root is not None else "paths relative to an unrecorded folder")
    inputs = "\n".join(f"| {i['source']} | {Path(i['path']).name} | `{i['sha256'][:16]}…` | {i['rows_used']} |"
                       for i in manifest.get("inputs", []))
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    body = f"""
# imax instruction data ({mode.upper()} build)

Image-centric chest X-ray instruction entries built by `imax build`. One row per (image, task) entry;
`instruction` starts with the task token, `response` is the answer text, `query`/`answer` hold the
structured payloads (JSON), `image_path` is relative to the sources' data root, and `image` is a
`datasets.Image` ({how}).

```python
import datasets
ds = datasets.load_dataset("parquet", data_files={{"train": "train.parquet", "val": "val.parquet",
                                                    "test": "test.parquet"}})
ds["train"][0]["image"]  # PIL image
```

## Provenance

* imax manifest id: `{manifest["id"]}` (`manifest.json` one folder up lists every input file with its
  sha256 and row counts, the resolved build config and package versions)
* data root: `{root}`
* splits (patient-level, disjoint): {", ".join(f"{s} {int(counts.get(s, 0))}" for s in SPLITS)}
* versions: {versions}

| source | file | sha256 | rows used |
|---|---|---|---|
{inputs}

## Licence

{LICENCE_NOTE}
"""
    return "\n".join(lines) + "\n" + body
