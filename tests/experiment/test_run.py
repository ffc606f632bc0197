"""The smoke preset runs the whole study end to end; a rerun resumes instead of recomputing."""

import json

import polars as pl
import pytest

from imax.experiment import run_experiment
from imax.schema.config.experiment import ExperimentConfig
from imax.schema.records import TASK_NAMES


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    logs: list[str] = []
    cfg = ExperimentConfig(out=out / "run", preset="smoke", cache=out / "cache")
    results = run_experiment(cfg, log=logs.append)
    return cfg, results, logs


def test_results_have_the_three_arms_and_all_sections(smoke):
    cfg, results, _ = smoke
    assert set(results["runs"]) == {"imax", "dmax", "pseudo_imax"}
    on_disk = json.loads((cfg.out / "results.json").read_text())
    assert on_disk["runs"]["imax"]["multitask_average"] == results["runs"]["imax"]["multitask_average"]
    for arm, block in results["runs"].items():
        assert set(block["metrics"]) == set(TASK_NAMES), arm
        assert [r["checkpoint"] for r in block["fisher"]] == ["initial", "early", "mid", "late"]
        assert block["loss_curve"], arm
    assert set(results["gains"]) == {"imax_vs_dmax", "pseudo_imax_vs_dmax"}
    assert (cfg.out / "report.html").stat().st_size > 10_000 and (cfg.out / "report.md").is_file()


def test_imax_and_dmax_differ_only_in_spread(smoke):
    cfg, results, _ = smoke
    stats = results["dataset_stats"]
    tr_i, tr_d = stats["imax"]["per_split"]["train"], stats["dmax"]["per_split"]["train"]
    assert tr_i["per_task_entries"] == tr_d["per_task_entries"]
    assert tr_i["mean_tasks_per_image"] >= 3 and tr_d["mean_tasks_per_image"] <= 1.5
    test_i = pl.read_parquet(cfg.out / "data" / "imax" / "entries.parquet").filter(pl.col("split") == "test")
    test_d = pl.read_parquet(cfg.out / "data" / "dmax" / "entries.parquet").filter(pl.col("split") == "test")
    assert test_i.equals(test_d)
    assert stats["imax"]["test_patients_in_train"] == stats["dmax"]["test_patients_in_train"] == 0


def test_every_arm_is_scored_on_the_same_test_entries(smoke):
    cfg, _, _ = smoke
    ids = {}
    for arm in ("imax", "dmax", "pseudo_imax"):
        with (cfg.out / "eval" / f"{arm}-seed0" / "predictions.jsonl").open() as f:
            ids[arm] = sorted(json.loads(line)["id"] for line in f)
    assert ids["imax"] == ids["dmax"] == ids["pseudo_imax"] and ids["imax"]


def test_pseudo_labels_are_accounted(smoke):
    cfg, results, _ = smoke
    pseudo = cfg.out / "runs" / "pseudo_imax-seed0"
    rows = [json.loads(line) for line in (pseudo / "pseudo_labels.jsonl").open()]
    assert rows, "stage 2 asked no question"
    stats = results["dataset_stats"]["pseudo_imax"]
    kept_generated = sum(r["kept"] for r in rows)
    kept_reg = stats["pseudo_entries"] - kept_generated  # reg entries are derived from kept rec boxes
    assert 0 <= kept_reg <= sum(r["kept"] and r["task"] == "rec" for r in rows)
    assert all(r["kept"] is False for r in rows if not r["parsed"])


def test_rerun_resumes_every_stage(smoke):
    cfg, results, _ = smoke
    logs: list[str] = []
    again = run_experiment(cfg, log=logs.append)
    stage_lines = [line for line in logs if line.startswith("[")]
    assert stage_lines and all("reused" in line for line in stage_lines), stage_lines
    assert again["runs"]["imax"]["metrics"] == results["runs"]["imax"]["metrics"]
