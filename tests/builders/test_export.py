"""Exports load in the trainers users run, by those trainers' own parsing rules.

The rules reimplemented here (read from the trainers' sources):

* LLaVA (haotian-liu/LLaVA ``llava/train/train.py``): ``LazySupervisedDataset.__init__`` does
  ``json.load(open(data_path))`` and indexes the result as a list; ``__getitem__`` opens
  ``Image.open(os.path.join(image_folder, sample["image"])).convert("RGB")`` for a sample with an
  ``image`` key; ``preprocess_multimodal`` rewrites every value holding ``<image>`` as
  ``("<image>\\n" + value.replace("<image>", "").strip()).strip()``; ``preprocess_v1`` / ``_llama_2``
  map ``from`` through ``{"human": USER, "gpt": ASSISTANT}``, drop a first turn not from the human, assert
  the roles alternate, and split the rendered conversation at ``"</s>"`` and ``" ASSISTANT: "`` /
  ``"[/INST] "`` to mask the prompt (a value holding those strings breaks the masking: the sample's
  labels are all ignored); ``lengths`` splits every value on whitespace.
* LLaVA-NeXT (LLaVA-VL/LLaVA-NeXT ``llava/train/train.py``): a ``data_path`` ending in ``.yaml`` is
  ``yaml.safe_load``-ed, ``datasets`` is a list of ``{json_path, sampling_strategy}``; ``json_path`` is
  opened as given (so relative to the trainer's cwd) with ``json.load`` (``.json``) or line by line
  (``.jsonl``); ``sampling_strategy`` defaults to ``all``, ``first:N`` / ``end:N`` / ``random:N`` (N may
  be ``P%``); ``preprocess_multimodal`` moves a single ``<image>`` not at the start to the start;
  ``modality_lengths`` asserts a non-empty conversation; ``id`` is ``sample.get("id", i)``.
* ``datasets``: ``load_dataset("parquet", data_files=...)`` then ``cast_column("image", Image())``;
  a folder with a README.md whose YAML header has ``configs`` loads by its path.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from PIL import Image

from imax.schema.errors import InputError

from ._build_synth import BUILD_KW, FAKE_TASKS, make_tables

IMAGE = "<image>"
ROLES = ("human", "gpt")


# ---- the trainers' rules ---------------------------------------------------------------------------------
def llava_preprocess_multimodal(value: str) -> str:
    """LLaVA's ``preprocess_multimodal`` on one value (``mm_use_im_start_end`` off, no mmtag)."""
    if IMAGE in value:
        value = (IMAGE + "\n" + value.replace(IMAGE, "").strip()).strip()
    return value


def next_preprocess_multimodal(value: str) -> str:
    """LLaVA-NeXT's variant: only a single ``<image>`` not already at the start is moved."""
    if len(re.findall(IMAGE, value)) == 1 and not value.startswith(IMAGE):
        value = (IMAGE + "\n" + value.replace(IMAGE, "").strip()).strip()
    return value


def llava_sample(sample: dict[str, Any], image_folder: str, rule: Any = llava_preprocess_multimodal) -> dict[str, Any]:
    """What ``LazySupervisedDataset.__getitem__`` makes of one element before tokenizing: the RGB image
    and the conversation after ``preprocess_multimodal``; asserts what ``preprocess`` asserts."""
    image = Image.open(os.path.join(image_folder, sample["image"])).convert("RGB")
    conv = copy.deepcopy(sample["conversations"])
    for turn in conv:
        turn["value"] = rule(turn["value"])
    if conv[0]["from"] != "human":  # preprocess_v1 drops it
        conv = conv[1:]
    for j, turn in enumerate(conv):
        assert turn["from"] == ROLES[j % 2], (sample["id"], j)
    rendered = "".join(t["value"] for t in conv)
    assert rendered.count(IMAGE) == 1  # tokenizer_image_token: one image per sample
    for sep in ("</s>", " ASSISTANT: ", "[/INST] "):  # the masking splits the rendered prompt at these
        assert sep not in rendered, (sample["id"], sep)
    assert sum(len(t["value"].split()) for t in conv) > 0  # lengths / modality_lengths
    return {"image": image, "conversations": conv}


def next_load_yaml(path: Path, seed: int = 0) -> list[dict[str, Any]]:
    """LLaVA-NeXT's ``LazySupervisedDataset.__init__`` for a ``.yaml`` data path."""
    data = yaml.safe_load(path.read_text())
    out: list[dict[str, Any]] = []
    for ds in data.get("datasets"):
        json_path = ds.get("json_path")
        strategy, number = ds.get("sampling_strategy", "all"), None
        if json_path.endswith(".jsonl"):
            with open(json_path) as f:
                cur = [json.loads(line.strip()) for line in f]
        elif json_path.endswith(".json"):
            with open(json_path) as f:
                cur = json.load(f)
        else:
            raise ValueError(f"Unsupported file type: {json_path}")
        if ":" in strategy:
            strategy, number = strategy.split(":")
            number = math.ceil(int(number.split("%")[0]) * len(cur) / 100) if "%" in number else int(number)
        if strategy == "first" and number is not None:
            cur = cur[:number]
        elif strategy == "end" and number is not None:
            cur = cur[-number:]
        elif strategy == "random" and number is not None:
            random.Random(seed).shuffle(cur)
            cur = cur[:number]
        out.extend(cur)
    return out


# ---- a build with real image files -----------------------------------------------------------------------
def _with_images(root: Path, n_patients: int = 40) -> Any:
    """Synthetic tables whose image files exist (small non-square JPEGs) under ``root``."""
    tables = make_tables(n_patients, seed=3)
    rng = np.random.default_rng(0)
    for rel in tables.images["path"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (24, 20), dtype=np.uint8), mode="L").save(path)
    return replace(tables, data_root=root)


@pytest.fixture(scope="module")
def imaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One IMAX build (image paths) and one with embedded HF images, of the same tables with image files."""
    from imax.builders import build_dataset
    from imax.schema.config.build import BuildConfig

    tmp = tmp_path_factory.mktemp("imaged")
    tables = _with_images(tmp / "sources")
    kw = {**BUILD_KW, "max_entries_per_task": None, "min_tasks": 2, "val_fraction": 0.2, "test_fraction": 0.2}
    return {"paths": build_dataset(tables, BuildConfig(out=tmp / "paths", **kw), tasks=FAKE_TASKS),
            "embedded": build_dataset(tables, BuildConfig(out=tmp / "embedded", hf_embed_images=True, **kw),
                                      tasks=FAKE_TASKS),
            "root": tmp / "sources"}


# ---- LLaVA -----------------------------------------------------------------------------------------------
def test_llava_json_reads_by_llavas_rules(imaged: dict[str, Any]) -> None:
    r = imaged["paths"]
    image_folder = r.manifest["exports"]["image_folder"]
    assert Path(image_folder) == imaged["root"].resolve()
    assert str(image_folder) in (r.out / "llava" / "README.md").read_text()  # the --image_folder, stated
    for split in ("train", "val", "test"):
        with open(r.out / "llava" / f"{split}.json") as f:
            data = json.load(f)
        want = r.entries.filter(pl.col("split") == split)
        assert isinstance(data, list) and len(data) == want.height == r.stats["per_split"][split]["entries"] > 0
        for sample, entry in zip(data, want.iter_rows(named=True), strict=True):
            got = llava_sample(sample, image_folder)
            assert got["image"].size == (20, 24) and got["image"].mode == "RGB"
            human, gpt = got["conversations"]
            # preprocess_multimodal leaves our text as written: the trainer sees exactly the entry
            assert human["value"] == IMAGE + "\n" + entry["instruction"] == sample["conversations"][0]["value"]
            assert gpt["value"] == entry["response"]
            assert sample["id"] == entry["id"] and sample["image"] == entry["image"]


def test_llava_next_yaml_reads_by_its_rules(imaged: dict[str, Any], tmp_path, monkeypatch) -> None:
    r = imaged["paths"]
    monkeypatch.chdir(tmp_path)  # json_path is opened as given: it must not depend on the trainer's cwd
    path = Path(r.manifest["exports"]["llava_next_data_path"])
    assert path == (r.out / "llava" / "train.yaml").resolve()
    data = next_load_yaml(path)
    assert [s["id"] for s in data] == r.entries.filter(pl.col("split") == "train")["id"].to_list()
    for i, sample in enumerate(data[:50]):
        got = llava_sample(sample, r.manifest["exports"]["image_folder"], rule=next_preprocess_multimodal)
        assert got["conversations"] == sample["conversations"]
        assert sample.get("id", i) == sample["id"]


def test_llava_json_escapes_awkward_text(tmp_path) -> None:
    from imax.builders.export import write_llava

    text = 'a "quoted", multi\nline\ttext — with ünïcode and a backslash \\ and {<1><2><3><4>} ]},['
    entries = pl.DataFrame({"id": ["d:report:0", "d:report:1"], "image": ["files/p10/x.jpg"] * 2,
                            "instruction": ["[caption] " + text] * 2, "response": [text, "b"],
                            "task": ["report"] * 2, "split": ["val"] * 2})
    write_llava(entries, tmp_path)
    rows = json.loads((tmp_path / "llava" / "val.json").read_text(encoding="utf-8"))
    assert len(rows) == 2 and rows[0]["conversations"][0]["value"] == "<image>\n[caption] " + text
    assert rows[0]["conversations"][1]["value"] == text and rows[1]["conversations"][1]["value"] == "b"
    assert json.loads((tmp_path / "llava" / "train.json").read_text()) == []


def test_llava_json_refuses_a_null_field(tmp_path) -> None:
    from imax.builders.export import write_llava

    entries = pl.DataFrame({"id": ["a", "b"], "image": ["x.jpg", "y.jpg"], "instruction": ["[t] q", "[t] q"],
                            "response": ["r", None], "task": ["vqa"] * 2, "split": ["train"] * 2})
    with pytest.raises(InputError, match=r"train\.json.*'response'.*entry 'b' \(row 2"):
        write_llava(entries, tmp_path)


def test_llava_written_in_chunks_is_the_same_file(built: dict[str, Any], tmp_path, monkeypatch) -> None:
    from imax.builders import export

    entries = built["imax"].entries
    export.write_llava(entries, tmp_path / "one")
    monkeypatch.setattr(export, "_LLAVA_ROWS", 7)
    export.write_llava(entries, tmp_path / "many")
    for split in ("train", "val", "test"):
        one = (tmp_path / "one" / "llava" / f"{split}.json").read_bytes()
        assert len(json.loads(one)) > 1 and one == (tmp_path / "many" / "llava" / f"{split}.json").read_bytes()


def test_exports_of_interleaved_splits_match_the_filtered_ones(built: dict[str, Any], tmp_path) -> None:
    """Splits not in one block (split_rows falls back to a filter) give the same files as in blocks."""
    from imax.builders import export

    entries = built["imax"].entries
    mixed = entries.sort("id")  # the splits interleave
    assert mixed["split"].rle_id().max() > 2
    export.write_llava(mixed, tmp_path / "mixed")
    for split in ("train", "val", "test"):
        want = [json.loads(e) for e in export.llava_elements(mixed.filter(pl.col("split") == split)).to_list()]
        assert json.loads((tmp_path / "mixed" / "llava" / f"{split}.json").read_text()) == want
        assert export.split_rows(entries, split).equals(entries.filter(pl.col("split") == split))


def test_hf_written_in_row_groups_is_the_same_table(built: dict[str, Any], tmp_path, monkeypatch) -> None:
    # the path-image HF file goes to Arrow a block of rows at a time (bounded memory: the whole MIMIC-size
    # train split at once was the build's peak); the rows read back are the same whatever the block
    import pyarrow.parquet as pq

    from imax.builders import export

    entries = built["imax"].entries
    export.write_hf(entries, tmp_path / "one", data_root=Path("/data"))
    monkeypatch.setattr(export, "_HF_ROWS", 7)
    export.write_hf(entries, tmp_path / "many", data_root=Path("/data"))
    for split in ("train", "val", "test"):
        one, many = (pq.ParquetFile(tmp_path / d / "hf" / f"{split}.parquet") for d in ("one", "many"))
        assert one.metadata.num_rows > 7 and many.metadata.num_row_groups == -(-one.metadata.num_rows // 7)
        assert many.schema_arrow == one.schema_arrow and many.read().equals(one.read())


# ---- Hugging Face ---------------------------------------------------------------------------------------
@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("kind", ["paths", "embedded"])
def test_hf_parquet_loads_with_images(imaged: dict[str, Any], kind: str, offline: None, tmp_path) -> None:
    import datasets

    r = imaged[kind]
    files = {s: str(r.out / "hf" / f"{s}.parquet") for s in ("train", "val", "test")}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    for split in ("train", "test"):
        assert ds[split].num_rows == r.stats["per_split"][split]["entries"]
    test = ds["test"].cast_column("image", datasets.Image())
    row = test[0]
    want = r.entries.filter(pl.col("split") == "test").row(0, named=True)
    assert row["id"] == want["id"] and row["image_path"] == want["image"]
    assert row["image"].size == (20, 24)
    file = imaged["root"] / want["image"]
    assert np.array_equal(np.asarray(row["image"]), np.asarray(Image.open(file)))
    raw = test.cast_column("image", datasets.Image(decode=False))[0]["image"]
    if kind == "embedded":
        assert raw["bytes"] == file.read_bytes()
    else:
        assert raw["path"] == str(file.resolve())


def test_hf_folder_loads_by_its_card(imaged: dict[str, Any], offline: None, tmp_path, caplog) -> None:
    """``load_dataset(DIR/hf)`` reads the card's configs and features: they must match the files."""
    import datasets

    r = imaged["paths"]
    with caplog.at_level(logging.WARNING):
        ds = datasets.load_dataset(str(r.out / "hf"), cache_dir=str(tmp_path / "cache"))
    assert not [m for m in caplog.messages if "dataset card" in m or "malformed" in m]  # the card is read whole
    assert set(ds) == {"train", "val", "test"}
    assert isinstance(ds["val"].features["image"], datasets.Image)
    assert ds["val"].num_rows == r.stats["per_split"]["val"]["entries"]
    assert ds["val"][0]["image"].size == (20, 24)


def test_dataset_card(imaged: dict[str, Any]) -> None:
    r = imaged["paths"]
    text = (r.out / "hf" / "README.md").read_text()
    head, body = text.split("---\n", 2)[1:]
    card = yaml.safe_load(head)
    assert card["license"] == "other" and "physionet" in card["license_link"]
    features = {f["name"]: f["dtype"] for f in card["dataset_info"]["features"]}
    assert features["image"] == "image" and features["instruction"] == "large_string"
    assert features["subject_id"] == "int64" and "image_path" in features
    assert all(s["num_bytes"] > 0 for s in card["dataset_info"]["splits"])
    assert {s["name"]: s["num_examples"] for s in card["dataset_info"]["splits"]} == {
        s: r.stats["per_split"][s]["entries"] for s in ("train", "val", "test")}
    assert r.manifest["id"] in body and "Credentialed" in body and "Data Use Agreement" in body
    assert str(imaged["root"].resolve()) in body


def test_manifest_keeps_location_out_of_the_id(imaged: dict[str, Any]) -> None:
    """Files holding absolute paths are hashed in ``exports.located_outputs``, not in the id's outputs;
    an embedded HF export is location-free and in the id."""
    from imax.builders.manifest import file_sha256, manifest_id

    paths, embedded = imaged["paths"], imaged["embedded"]
    m = json.loads((paths.out / "manifest.json").read_text())
    assert m["id"] == manifest_id(m) == paths.manifest["id"]
    located = m["exports"]["located_outputs"]
    assert {"hf/train.parquet", "hf/README.md", "llava/train.yaml", "llava/README.md"} <= set(located)
    assert located["hf/README.md"] == file_sha256(paths.out / "hf" / "README.md")
    assert "llava/train.json" in m["outputs"] and not set(located) & set(m["outputs"])
    assert m["exports"]["hf_images"] == "absolute"
    e = json.loads((embedded.out / "manifest.json").read_text())
    assert "hf/train.parquet" in e["outputs"] and e["exports"]["hf_images"] == "embedded"
