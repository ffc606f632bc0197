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


def test_results_have_the_three_arms_the_control_and_all_sections(smoke):
    cfg, results, _ = smoke
    assert set(results["runs"]) == {"imax", "dmax", "pseudo_imax", "dmax_half"}
    on_disk = json.loads((cfg.out / "results.json").read_text())
    assert on_disk["runs"]["imax"]["multitask_average"] == results["runs"]["imax"]["multitask_average"]
    for arm, block in results["runs"].items():
        assert set(block["metrics"]) == set(TASK_NAMES), arm
        fisher = [] if arm == "dmax_half" else ["initial", "early", "mid", "late"]  # no spectra for the control
        assert [r["checkpoint"] for r in block["fisher"]] == fisher
        assert block["loss_curve"], arm
    assert set(results["gains"]) == {"imax_vs_dmax", "pseudo_imax_vs_dmax"}
    for gain in results["gains"].values():
        assert len(gain["difference"]["ci"]) == 2 and gain["minimum_detectable_effect"] >= 0
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
    for arm in ("imax", "dmax", "pseudo_imax", "dmax_half"):
        with (cfg.out / "eval" / f"{arm}-seed0" / "predictions.jsonl").open() as f:
            ids[arm] = sorted(json.loads(line)["id"] for line in f)
    assert ids["imax"] == ids["dmax"] == ids["pseudo_imax"] == ids["dmax_half"] and ids["imax"]


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


def _interval(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, float) for v in value)


def test_every_arm_carries_trivial_baselines_and_shuffled_image_scores_with_cis(smoke):
    cfg, _, _ = smoke
    on_disk = json.loads((cfg.out / "results.json").read_text())
    for arm, block in on_disk["runs"].items():
        for key in ("trivial_baseline", "shuffled_image"):
            assert set(block[key]["tasks"]) == set(TASK_NAMES), (arm, key)
            for task, c in block[key]["tasks"].items():
                assert isinstance(c["score"], float) and _interval(c["score_ci"]), (arm, key, task)
                assert isinstance(c["diff"], float) and _interval(c["diff_ci"]), (arm, key, task)
            assert _interval(block[key]["multitask_average"]["diff_ci"])
        assert block["trivial_baseline"]["rule"]["rec"] == "mean train box of the queried region"
    # Each arm's baselines come from its own train split.
    assert on_disk["runs"]["dmax"]["trivial_baseline"]["train_data"].endswith("data/dmax")
    assert on_disk["runs"]["pseudo_imax"]["trivial_baseline"]["train_data"].endswith("pseudo_data")
    # The shuffled prompts were generated again on other test images by the same model.
    shuffled = [json.loads(line) for line in (cfg.out / "eval" / "imax-seed0" / "shuffled_predictions.jsonl").open()]
    test_ids = {json.loads(line)["dicom_id"] for line in (cfg.out / "eval" / "imax-seed0" / "predictions.jsonl").open()}
    assert shuffled and all(p["shown_dicom_id"] != p["dicom_id"] and p["shown_dicom_id"] in test_ids for p in shuffled)


def test_the_control_arm_carries_its_verdict(smoke):
    cfg, results, _ = smoke
    control = results["runs"]["dmax_half"]
    assert isinstance(control["detected"], bool) and control["minimum_detectable_effect"] >= 0
    assert results["control"]["detected"] == control["detected"]
    stats = results["dataset_stats"]
    half = stats["dmax_half"]["per_split"]["train"]["per_task_entries"]
    full = stats["dmax"]["per_split"]["train"]["per_task_entries"]
    assert sum(half.values()) < 0.7 * sum(full.values())
    assert stats["dmax_half"]["per_split"]["test"] == stats["dmax"]["per_split"]["test"]  # one test set
    # Same recipe and epochs as its parent: its steps scale with its share of the parent's train entries.
    def total(arm: str) -> int:
        state = cfg.out / "runs" / f"{arm}-seed0" / "checkpoints" / "final" / "state.json"
        return json.loads(state.read_text())["total_steps"]

    assert total("dmax_half") == max(1, round(total("dmax") * sum(half.values()) / sum(full.values())))
    assert total("dmax_half") < total("dmax")
    page = (cfg.out / "report.html").read_text()
    assert 'id="controls"' in page
    if not control["detected"]:
        assert "Underpowered" in page


def test_every_run_trains_the_lm_head_beside_lora_on_the_tiny_base(smoke):
    from imax.model import trained_names

    cfg, _, _ = smoke
    runs = {arm: cfg.out / "runs" / f"{arm}-seed0" for arm in ("imax", "dmax", "dmax_half")}
    runs["pseudo_imax"] = cfg.out / "runs" / "pseudo_imax-seed0" / "stage3"
    for arm, run in runs.items():
        names = trained_names(run / "checkpoints" / "final")
        head = [n for n in names if "lm_head" in n]
        assert head and all(".lora_" in n or "multi_modal_projector" in n or "lm_head" in n for n in names), arm

