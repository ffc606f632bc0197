"""Discovery by official file names anywhere under a root, and the sources.yaml mapping."""

from __future__ import annotations

import shutil
from pathlib import Path

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
