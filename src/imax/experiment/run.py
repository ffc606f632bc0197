"""``run_experiment``: the whole study from one call, resumable stage by stage.

phantom (unless real sources) → build IMAX, DMAX and the positive control (DMAX at half the per-task
volume) → base (a local checkpoint, or the tiny base imax pretrains and caches) → per seed: fine-tune
IMAX, DMAX and the control, three-stage pseudo-IMAX (stage 1 = that seed's DMAX run) → evaluate every
run on the shared test set, with its trivial baselines and image-shuffled score → Fisher spectra at the
named checkpoints (not for the control) → results.json → report.html / report.md.

Each stage leaves a file that marks it done (phantom_summary.json, manifest.json, checkpoints/final,
metrics.json, fisher.json); a rerun with ``resume`` skips finished stages and training continues from
its latest checkpoint, so a killed experiment picks up where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from imax.experiment.aggregate import (
    arm_controls,
    combine_seeds,
    control_summary,
    gains,
    primary_metrics,
    stats_volume,
)
from imax.experiment.plan import (
    ARMS,
    CONTROL,
    CONTROL_PARENT,
    CONTROL_VOLUME,
    Plan,
    eval_config,
    fisher_config,
    make_plan,
    pseudo_config,
    train_config,
)
from imax.schema.config import to_dict
from imax.schema.config.experiment import ExperimentConfig
from imax.schema.config.train import TrainConfig

Log = Callable[[str], None]


def _stage(log: Log, name: str, done: bool) -> bool:
    log(f"[{datetime.now(UTC):%H:%M:%S}] {name}: {'done earlier, reused' if done else 'running'}")
    return done


def prepare_data(cfg: ExperimentConfig, plan: Plan, log: Log) -> pl.DataFrame:
    """Phantom (if no real sources), then both builds from ONE read of the sources.

    Both builds come from :func:`imax.builders.build_arms`, the function ``imax build --mode both`` calls:
    one split, one per-task cap (the largest for which DMAX can match IMAX's volumes, fitted when
    ``max_entries_per_task`` is ``auto``), so the experiment's data equals the CLI's for the same sources
    and seed. Returns every canonical annotation of the sources (held-out truth for the pseudo-label
    quality report), cached as data/truth_annotations.parquet. The positive control is DMAX built with
    ``CONTROL_VOLUME`` of that cap (of the largest IMAX train volume when no cap was needed).
    """
    from imax.builders import build_arms, build_dataset
    from imax.sources import read_sources

    if plan.phantom is not None:
        marker = plan.sources / "phantom_summary.json"
        if not _stage(log, "phantom", cfg.resume and marker.is_file()):
            from imax.phantom import generate

            generate(plan.phantom)
    truth_path = plan.out / "data" / "truth_annotations.parquet"
    built = all((b.out / "manifest.json").is_file() for b in plan.builds.values()) and truth_path.is_file()
    if _stage(log, "build imax + dmax", cfg.resume and built):
        return pl.read_parquet(truth_path)
    first = plan.builds["imax"]
    if any(replace(b, mode="imax", out=first.out) != first for b in plan.builds.values()):
        raise ValueError("the plan's IMAX and DMAX build configs differ beyond mode and out")  # a plan bug
    tables = read_sources(plan.sources, first.sources_cfg)
    arms = {mode: b.out for mode, b in plan.builds.items() if mode != CONTROL}
    results = build_arms(tables, first, outs=arms)
    caps = results["imax"].stats["caps"]
    cap = caps["max_entries_per_task"]
    log(f"  split: {results['imax'].stats['split']['kind']}; per-task entry cap for volume-matched DMAX: "
        f"{cap if cap is not None else 'none needed'}{' (fitted)' if 'max_entries_per_task' in caps['fitted'] else ''}")
    if CONTROL in plan.builds:
        train_volume = results["imax"].stats["per_split"]["train"]["per_task_entries"]
        full = cap if cap is not None else max(train_volume.values())
        control_cap = max(1, int(full * CONTROL_VOLUME))
        results[CONTROL] = build_dataset(tables, replace(plan.builds[CONTROL], max_entries_per_task=control_cap))
    for mode, result in results.items():
        mode_cap = result.stats["caps"]["max_entries_per_task"]
        log(f"  {mode}: {result.stats['images']} images, {result.stats['entries']} entries, "
            f"{result.stats['mean_tasks_per_image']:.2f} tasks/image (train cap per task: {mode_cap or 'none'})")
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    tables.annotations.write_parquet(truth_path)
    return tables.annotations


def base_model(cfg: ExperimentConfig, plan: Plan, log: Log) -> Path:
    if cfg.base is not None:
        return Path(cfg.base)
    from imax.train.pretrain import pretrain

    assert plan.pretrain is not None
    t0 = time.perf_counter()
    path = pretrain(plan.pretrain)
    log(f"base model: {path} ({time.perf_counter() - t0:.0f} s; cached by config hash)")
    return path


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def _train_entries(data: Path) -> int:
    return sum(stats_volume(_read_json(Path(data) / "stats.json")).values())


def same_epochs(tcfg: TrainConfig, parent_run: Path, parent_data: Path, control_data: Path) -> TrainConfig:
    """The control's recipe: ``tcfg`` for as many passes over its own train split as its parent made over
    its own, i.e. the parent's optimizer steps scaled by the control's share of the parent's train entries
    (about half the steps at half the volume; ``max_steps`` alone, so that length is exact).

    Less data at the same epochs is the handicap "known to hurt" in any regime where training helps: it
    is less data *and* fewer updates. Holding the steps equal instead (the first design) let the control
    repeat each example twice as often, and on the quick preset (about one epoch at 500 steps) that
    repetition outweighed the lost volume: the control came out better than DMAX, -0.022 [-0.040, -0.003]
    on one seed and -0.019 [-0.030, -0.008] on three (docs/results/quick-*-results.json before this)."""
    total = int(_read_json(parent_run / "checkpoints" / "final" / "state.json")["total_steps"])
    steps = max(1, round(total * _train_entries(control_data) / max(1, _train_entries(parent_data))))
    return replace(tcfg, max_steps=steps, epochs=None)


def run_seed(cfg: ExperimentConfig, plan: Plan, base: Path, seed: int, truth: pl.DataFrame | None, log: Log) -> dict:
    """Train, evaluate and analyse the arms (and the control) for one seed; returns {arm: run directory}.

    The control trains with the arms' recipe (:func:`train_config`: same base, batch, schedule, seed) for
    the same epochs as its parent (:func:`same_epochs`); only its data, and so its step count, differ. It
    gets no Fisher spectra (not part of the study's question)."""
    from imax.evaluate import evaluate_model
    from imax.train import train

    runs: dict[str, Path] = {}
    train_data: dict[str, Path] = {}
    for arm in ("imax", "dmax", CONTROL):
        if arm not in plan.builds:
            continue
        run = plan.run_dir(arm, seed)
        tcfg = train_config(cfg, plan, base, plan.builds[arm].out, run, seed)
        if arm == CONTROL:
            tcfg = same_epochs(tcfg, runs[CONTROL_PARENT], plan.builds[CONTROL_PARENT].out, plan.builds[arm].out)
        if not _stage(log, f"train {arm} seed {seed}", (run / "checkpoints" / "final").is_dir()):
            train(tcfg)
        runs[arm], train_data[arm] = run, plan.builds[arm].out
    if cfg.pseudo:
        from imax.pseudo import run_pseudo

        tcfg = train_config(cfg, plan, base, plan.builds["dmax"].out, plan.run_dir("pseudo_imax", seed), seed)
        pcfg = pseudo_config(cfg, plan, tcfg, stage1=runs["dmax"], seed=seed)
        done = (pcfg.out / "stage3" / "checkpoints" / "final").is_dir()
        if not _stage(log, f"pseudo-IMAX seed {seed}", done):
            run_pseudo(pcfg, truth)
        runs["pseudo_imax"], train_data["pseudo_imax"] = pcfg.out / "stage3", pcfg.out / "pseudo_data"
    for arm, run in runs.items():
        ecfg = eval_config(cfg, plan, run, plan.eval_dir(arm, seed), seed, train_data[arm])
        if not _stage(log, f"evaluate {arm} seed {seed}", (ecfg.out / "metrics.json").is_file()):
            evaluate_model(ecfg)
        if cfg.fisher and arm != CONTROL:
            fcfg = fisher_config(cfg, plan, run)
            if not _stage(log, f"fisher {arm} seed {seed}", (run / "fisher.json").is_file()):
                from imax.fisher import fisher_for_run

                fisher_for_run(run, fcfg.data, fcfg)
    return runs


def loss_curve(run: Path) -> list[dict[str, Any]]:
    """Logged training losses of a run (``log.jsonl``), as the report's loss_curve."""
    log_path = run / "log.jsonl"
    if not log_path.is_file():
        return []
    out = []
    for rec in _read_jsonl(log_path):
        if "loss" in rec and "step" in rec:
            out.append({"step": rec["step"], "loss": rec["loss"], "per_task": rec.get("task_loss", rec.get("per_task", {}))})
    return out


def collect(cfg: ExperimentConfig, plan: Plan, seconds: float) -> dict[str, Any]:
    """results.json from the finished stages (reads only files, so it can be rerun any time)."""
    study = [a for a in ARMS if a != "pseudo_imax" or cfg.pseudo]
    arms = study + ([CONTROL] if CONTROL in plan.builds else [])
    metrics = {a: [_read_json(plan.eval_dir(a, s) / "metrics.json") for s in plan.seeds] for a in arms}
    preds = {a: [_read_jsonl(plan.eval_dir(a, s) / "predictions.jsonl") for s in plan.seeds] for a in arms}
    run_dirs = {a: plan.run_dir(a, plan.seeds[0]) / ("stage3" if a == "pseudo_imax" else "") for a in arms}
    n_boot = cfg.resolved("bootstrap")
    runs: dict[str, Any] = {}
    for arm in arms:
        block = combine_seeds(metrics[arm], plan.seeds)
        block.update(arm_controls(metrics[arm], [plan.eval_dir(arm, s) for s in plan.seeds], preds[arm], n_boot))
        fisher_path = run_dirs[arm] / "fisher.json"
        block["fisher"] = _read_json(fisher_path) if fisher_path.is_file() else []
        block["loss_curve"] = loss_curve(run_dirs[arm])
        runs[arm] = block
    result_gains = {
        f"{arm}_vs_dmax": gains(metrics[arm], metrics["dmax"], preds[arm], preds["dmax"], n_boot)
        for arm in study if arm != "dmax"
    }
    stats = {mode: _read_json(b.out / "stats.json") for mode, b in plan.builds.items()}
    control: dict[str, Any] = {}
    if CONTROL in arms:
        control = control_summary(
            CONTROL, CONTROL_PARENT, preds[CONTROL_PARENT], preds[CONTROL], stats[CONTROL_PARENT], stats[CONTROL],
            CONTROL_VOLUME, n_boot,
        )
        runs[CONTROL].update(control=True, detected=control["detected"],
                             minimum_detectable_effect=control["minimum_detectable_effect"])
    pseudo_quality: dict[str, Any] = {}
    if cfg.pseudo:
        pseudo_dir = plan.run_dir("pseudo_imax", plan.seeds[0])
        stats["pseudo_imax"] = _read_json(pseudo_dir / "pseudo_data" / "stats.json")
        pseudo_quality = _read_json(pseudo_dir / "quality.json")
    return {
        "preset": cfg.preset,
        "seeds": list(plan.seeds),
        "wall_seconds": seconds,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": to_dict(cfg),
        "primary_metrics": primary_metrics(),
        "runs": runs,
        "gains": result_gains,
        "control": control,
        "dataset_stats": stats,
        "pseudo_label_quality": pseudo_quality,
        "gallery": gallery(plan, preds, study, cfg.resolved("gallery")),
    }


def gallery(plan: Plan, preds: dict[str, list[list[dict]]], arms: list[str], n: int) -> list[dict[str, Any]]:
    """The first ``n`` test images (by dicom_id) with every entry's truth and each arm's answer (seed 0)."""
    from imax.data import read_data_root

    entries = pl.read_parquet(plan.builds["imax"].out / "entries.parquet").filter(pl.col("split") == "test")
    images = pl.read_parquet(plan.builds["imax"].out / "images.parquet")
    root = read_data_root(plan.builds["imax"].out)
    by_id = {a: {p["id"]: p for p in preds[a][0]} for a in arms}
    chosen = sorted(set(entries["dicom_id"].to_list()) & {p["dicom_id"] for p in preds[arms[0]][0]})[:n]
    out = []
    for dicom_id in chosen:
        img = images.filter(pl.col("dicom_id") == dicom_id).row(0, named=True)
        rows = entries.filter(pl.col("dicom_id") == dicom_id).sort(["task", "id"])
        items = []
        for e in rows.iter_rows(named=True):
            if e["id"] not in by_id[arms[0]]:
                continue
            items.append({
                "task": e["task"], "instruction": e["instruction"], "reference": e["response"],
                "reference_answer": json.loads(e["answer"]), "query": json.loads(e["query"]),
                "predictions": {a: {"text": by_id[a][e["id"]].get("output", ""), "parsed": by_id[a][e["id"]].get("parsed")}
                                for a in arms if e["id"] in by_id[a]},
            })
        out.append({"dicom_id": dicom_id, "image_path": str(root / img["path"]),
                    "size": [img["width"], img["height"]], "entries": items})
    return out


def run_experiment(cfg: ExperimentConfig, log: Log = print) -> dict[str, Any]:
    """Run (or resume) the study; writes OUT/results.json, OUT/report.html and OUT/report.md."""
    from imax.report import write_report

    t0 = time.perf_counter()
    plan = make_plan(cfg)
    plan.out.mkdir(parents=True, exist_ok=True)
    timing_path = plan.out / "timing.json"
    previous = _read_json(timing_path)["seconds"] if cfg.resume and timing_path.is_file() else 0.0
    truth = prepare_data(cfg, plan, log)
    base = base_model(cfg, plan, log)
    t_base = time.perf_counter()
    for seed in plan.seeds:
        run_seed(cfg, plan, base, seed, truth, log)
    seconds = previous + time.perf_counter() - t0
    timing_path.write_text(json.dumps({"seconds": seconds, "base_seconds": t_base - t0}) + "\n")
    results = collect(cfg, plan, seconds)
    results["base_model"] = str(base)
    paths = write_report(results, plan.out)
    log(f"report: {paths['html']}")
    return results
