"""The whole path on the phantom (500 patients): native files → read_sources → IMAX and DMAX → checks.

The phantom gives nearly every frontal image >= 3 tasks (as MIMIC does), so DMAX at one task per image
needs IMAX capped; the cap (400 train entries per task) keeps it feasible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from imax.builders import DmaxPoolError, build_dataset, check_leakage
from imax.cli import main
from imax.schema.config.build import BuildConfig

CAP = 400


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    phantom_mod = pytest.importorskip("imax.phantom")
    from imax.schema.config.phantom import PhantomConfig
    from imax.schema.config.sources import SourcesConfig
    from imax.sources import read_sources

    root = tmp_path_factory.mktemp("phantom")
    phantom_mod.generate(PhantomConfig(out=root / "src", patients=500, seed=0, image_size=64, workers=1))
    tables = read_sources(root / "src", SourcesConfig())
    built = {
        mode: build_dataset(tables, BuildConfig(sources=root / "src", out=root / mode, mode=mode,
                                                max_entries_per_task=CAP))
        for mode in ("imax", "dmax")
    }
    return {"root": root, "tables": tables, "built": built}


def test_volumes_equal_and_spread_differs(phantom: dict[str, Any]) -> None:
    imax, dmax = phantom["built"]["imax"].stats, phantom["built"]["dmax"].stats
    for split in ("train", "val"):
        assert imax["per_split"][split]["per_task_entries"] == dmax["per_split"][split]["per_task_entries"]
    # the capped train set keeps the first images in seeded order; the phantom's edema cohort is tiny
    assert len(imax["per_split"]["train"]["per_task_entries"]) >= 6
    assert imax["per_split"]["train"]["mean_tasks_per_image"] >= 3.0
    assert dmax["per_split"]["train"]["mean_tasks_per_image"] <= 1.2


def test_shared_test_set_and_no_leak(phantom: dict[str, Any]) -> None:
    imax, dmax = phantom["built"]["imax"], phantom["built"]["dmax"]
    assert (imax.out / "hf" / "test.parquet").read_bytes() == (dmax.out / "hf" / "test.parquet").read_bytes()
    for r in (imax, dmax):
        assert r.stats["test_patients_in_train"] == 0
        assert check_leakage(r.out).ok
    test_patients = set(imax.entries.filter(pl.col("split") == "test")["subject_id"])
    for r in (imax, dmax):
        assert not test_patients & set(r.entries.filter(pl.col("split") != "test")["subject_id"])


def test_every_annotation_accounted(phantom: dict[str, Any]) -> None:
    tables = phantom["tables"]
    for r in phantom["built"].values():
        acc = r.accounting["tasks"]
        assert sum(t["annotations"] for t in acc.values()) == tables.annotations.height
        assert all(t["annotations"] == t["quarantined"] + t["entries"] + t["unused"] >= t["entries"]
                   for t in acc.values())
        for f in r.manifest["inputs"]:
            assert f["rows_read"] == f["rows_used"] + f["rows_quarantined"]


def test_uncapped_dmax_fails_loudly(phantom: dict[str, Any]) -> None:
    with pytest.raises(DmaxPoolError, match="needs"):
        build_dataset(phantom["tables"], BuildConfig(mode="dmax", max_entries_per_task=None), write=False)


def test_cli_build_then_check_leakage(phantom: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = phantom["root"] / "cli"
    rc = main(["build", "--sources", str(phantom["root"] / "src"), "--out", str(out), "--mode", "imax"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "calculation" in printed and "manifest id" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert Path(manifest["data_root"]).is_dir()
    assert (Path(manifest["data_root"]) / pl.read_parquet(out / "entries.parquet")["image"][0]).is_file()
    assert main(["check-leakage", str(out)]) == 0
