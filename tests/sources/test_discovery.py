"""Discovery by official file names anywhere under a root, and the sources.yaml mapping."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from imax.schema.config.base import ConfigError
from imax.schema.config.sources import SourcesConfig
from imax.sources import SOURCES, discover, load_paths, read_sources

from ._util import FIXTURES, rows_of


def test_every_source_found(mini_root: Path) -> None:
    found = discover(mini_root)
    assert set(found) == set(SOURCES)
    rel = {k: sorted(p.relative_to(mini_root).as_posix() for p in v) for k, v in found.items()}
    assert rel["cxrlt"] == [
        "cxr-lt/cxr-lt-2023/development.csv",
        "cxr-lt/cxr-lt-2023/test.csv",
        "cxr-lt/cxr-lt-2023/train.csv",
        "cxr-lt/cxr-lt-2024/train_labeled.csv",
    ]
    assert len(rel["reports"]) == 5 and all(p.startswith("files/p10/") for p in rel["reports"])
    assert rel["vqa"] == [
        "MIMIC-Ext-MIMIC-CXR-VQA/dataset/train.json",
        "MIMIC-Ext-MIMIC-CXR-VQA/dataset/valid.json",
    ]


def test_look_alikes_ignored(tmp_path: Path) -> None:
    for rel in (
        "other/train.csv",
        "other/test.json",
        "files/p10/p10000032/s50414267/x.txt",
        "CTRs.csv.bak",
        "notes/mimic-cxr-2.0.0-chexpert.csv.old",
        ".hidden/CTRs.csv",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert discover(tmp_path) == {}


def test_nested_anywhere(tmp_path: Path) -> None:
    for rel in (
        "a/b/c/d/CTRs.csv",
        "x/y/cxr-lt-2023/train.csv",
        "z/mimic-cxr-vqa-1.0/deep/test.json",
        "q/chexmask/Preprocessed/MIMIC-CXR-JPG.csv.gz",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert {k: len(v) for k, v in discover(tmp_path).items()} == {
        "cardiomegaly": 1,
        "cxrlt": 1,
        "vqa": 1,
        "chexmask": 1,
    }


def test_sources_yaml(tmp_path: Path, mini_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(mini_root, root)
    shutil.copy(FIXTURES / "sectioned" / "mimic_cxr_sectioned.csv", tmp_path / "mimic_cxr_sectioned.csv")
    (root / "sources.yaml").write_text(
        "reports: ../mimic_cxr_sectioned.csv\ncxrlt: [cxr-lt/cxr-lt-2023]\nvqa: nowhere/train.json\n"
    )
    got = load_paths(root / "sources.yaml", root)
    assert [p.name for p in got["cxrlt"]] == ["development.csv", "test.csv", "train.csv"]
    assert got["vqa"] == []
    t = read_sources(root, SourcesConfig(only=("reports", "cxrlt", "vqa")))
    assert {r["meta"]["route"] for r in rows_of(t, "reports")} == {"sectioned"}
    assert {r["meta"]["release"] for r in rows_of(t, "cxrlt")} == {"2023"}
    assert "vqa" in t.missing
    (root / "sources.yaml").write_text("nonsense: x.csv\n")
    with pytest.raises(ConfigError, match="unknown source"):
        read_sources(root, SourcesConfig(only=("reports",)))


def test_explicit_paths_file(tmp_path: Path, mini_root: Path) -> None:
    mapping = tmp_path / "map.yaml"
    mapping.write_text(f"cardiomegaly: {mini_root / 'cxr-cardiomegaly' / 'CTRs.csv'}\n")
    t = read_sources(mini_root, SourcesConfig(only=("cardiomegaly",), paths_file=mapping))
    assert {r["query"]["measure"] for r in rows_of(t, "cardiomegaly")} == {"ctr"}


def test_every_adapter_names_its_files() -> None:
    """Each adapter's printed globs (shown when it is not found) name files its patterns accept."""
    from imax.sources.discovery import expand_glob

    for name, ad in SOURCES.items():
        assert ad.globs, name
        for glob in ad.globs:
            for g in expand_glob(glob):
                sample = g.replace("**/", "x/").replace("*", "a").replace("?", "1").replace("[.gz]", "")
                sample = sample.replace("pa/s", "p10000032/s") if name == "reports" else sample
                assert set(discover_one(sample)) == {name}, (name, g, sample)


def discover_one(rel: str) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / rel
        p.parent.mkdir(parents=True)
        p.write_text("x")
        return discover(Path(d))


def test_vqa_outside_its_folder_is_named_with_a_mapping(tmp_path: Path, phantom) -> None:  # type: ignore[no-untyped-def]
    """The known case: VQA files outside a ``*mimic-cxr-vqa*`` folder. The source is listed as not
    found with the names looked for, the misplaced files and a sources.yaml line that, pasted, works."""
    import json

    from imax.builders import build_dataset, format_accounting
    from imax.schema.config.build import BuildConfig

    root = tmp_path / "root"
    shutil.copytree(phantom[0], root, ignore=shutil.ignore_patterns("*.jpg"))
    (root / "qa").mkdir()
    for f in (root / "mimic-ext-mimic-cxr-vqa" / "dataset").iterdir():
        f.rename(root / "qa" / f.name)
    shutil.rmtree(root / "mimic-ext-mimic-cxr-vqa")
    shutil.rmtree(root / "chexmask")  # a source with no file and no look-alike either
    cfg = SourcesConfig(check_images=False)
    t = read_sources(root, cfg)
    assert t.missing == ["vqa", "chexmask"] and [n.source for n in t.not_found] == t.missing
    vqa, chexmask = t.not_found
    assert vqa.looked_for == ["**/*mimic-cxr-vqa*/**/{train,valid,test}.json[.gz]"]
    assert vqa.near_misses == ["qa/test.json", "qa/train.json", "qa/valid.json"] and vqa.near_total == 3
    assert chexmask.near_misses == [] and chexmask.looked_for == ["**/MIMIC-CXR-JPG.csv[.gz]"]

    result = build_dataset(t, BuildConfig(out=tmp_path / "out"), write=False)
    text = format_accounting(result)
    for n in t.not_found:  # every missing source has its row, globs and mapping hint in the table
        row = next(line for line in text.splitlines() if line.startswith(n.source) and "NOT FOUND" in line)
        assert row
        assert all(g in text for g in n.looked_for) and f"'{n.source}: " in text
    assert "qa/train.json" in text
    listed = result.accounting["missing_sources"]
    assert [m["source"] for m in listed] == ["vqa", "chexmask"] and "sources.yaml" in listed[0]["hint"]
    json.dumps(result.accounting)  # goes into manifest.json as is

    # The suggested line, pasted into sources.yaml, makes the source found.
    line = vqa.hint().split("'")[1]
    (root / "sources.yaml").write_text(line + "\n")
    again = read_sources(root, SourcesConfig(check_images=False, only=("vqa",)))
    assert "vqa" not in again.missing and again.annotations.filter(pl.col("task") == "vqa").height > 0


def test_unresolved_mapping_is_named(tmp_path: Path, mini_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(mini_root, root)
    shutil.rmtree(root / "MIMIC-Ext-MIMIC-CXR-VQA")
    (root / "sources.yaml").write_text("vqa: nowhere/train.json\n")
    t = read_sources(root, SourcesConfig(only=("vqa",)))
    (nf,) = t.not_found
    assert nf.unresolved == ["nowhere/train.json"]
    assert any("nowhere/train.json: no such file or folder" in line for line in nf.lines())


def test_unreadable_file_is_named_in_the_accounting(tmp_path: Path, phantom) -> None:  # type: ignore[no-untyped-def]
    from imax.builders import build_dataset, format_accounting
    from imax.schema.config.build import BuildConfig

    root = tmp_path / "root"
    shutil.copytree(phantom[0], root, ignore=shutil.ignore_patterns("*.jpg"))
    chexpert = root / "mimic-cxr-2.0.0-chexpert.csv.gz"
    chexpert.write_bytes(chexpert.read_bytes()[:40])  # a cut download
    t = read_sources(root, SourcesConfig(check_images=False))
    result = build_dataset(t, BuildConfig(out=tmp_path / "out"), write=False)
    (row,) = [i for i in result.accounting["inputs"] if i["source"] == "chexpert"]
    assert row["read"] == 0 and row["error"].startswith("corrupt gzip")
    assert f"NOT READ: {row['error']}" in format_accounting(result)
    assert all(i["error"] is None for i in result.accounting["inputs"] if i["source"] != "chexpert")
