"""Can the tiny base learn to read the image for ONE task? Fine-tune on that task's entries alone.

The quick experiment's multi-task fine-tunes do not beat their trivial baselines on the image tasks, and
shuffling the images barely changes their answers (docs/results). Two explanations compete: the mix (an
image task gets a few percent of 300 steps) or the base and the task's volume (a few hundred train
entries). Here the base is fine-tuned with the quick recipe, unchanged, on ONE task's train entries
(``TrainConfig.tasks``) for the same number of steps (about a dozen epochs of calculation), and scored on
the build's ``--split`` beside that task's trivial baseline and an image-shuffled rerun, with the number
of distinct answers it gives (1: one answer for every image). It selects nothing: the recipe is the
preset's, so scoring the test split here chooses no setting.

    .venv/bin/python benchmarks/single_task.py --data runs/quick/data/imax --base runs/cache/<hash> \
        --tasks calculation,multiclass --out benchmarks/results/single_task.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


def one_task(data: Path, base: Path, work: Path, task: str, steps: int | None, split: str, seed: int) -> dict[str, Any]:
    """Fine-tune ``base`` on ``task``'s train entries of ``data`` and score it on ``split``."""
    from imax.evaluate import evaluate_model
    from imax.experiment.plan import eval_config, make_plan, train_config
    from imax.schema.config.experiment import ExperimentConfig
    from imax.train import train

    cfg = ExperimentConfig(out=work, preset="quick", base=base, steps=steps, fisher=False)
    plan = make_plan(cfg)
    run = work / f"{task}-s{cfg.resolved('steps')}-seed{seed}"
    t0 = time.perf_counter()
    if not (run / "checkpoints" / "final").is_dir():
        train(replace(train_config(cfg, plan, base, data, run, seed), tasks=(task,)))
    trained = time.perf_counter() - t0
    ecfg = replace(eval_config(cfg, plan, run, run / split, seed, data), data=data, split=split, tasks=(task,),
                   bootstrap=1000, meteor=False)
    if not (ecfg.out / "metrics.json").is_file():
        evaluate_model(ecfg)
    metrics = json.loads((ecfg.out / "metrics.json").read_text())
    trivial = metrics["trivial_baseline"]["tasks"][task]
    shuffled = metrics["shuffled_image"]["tasks"][task]
    outputs = [json.loads(line)["output"] for line in (ecfg.out / "predictions.jsonl").read_text().splitlines()]
    return {
        "task": task, "steps": cfg.resolved("steps"), "metric": trivial["metric"], "prompts": len(outputs),
        "distinct_answers": len(set(outputs)),
        "model_minus_trivial": trivial["diff"], "model_minus_trivial_ci": trivial["diff_ci"],
        "model_minus_shuffled": shuffled["diff"], "model_minus_shuffled_ci": shuffled["diff_ci"],
        "train_seconds": round(trained, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a built dataset (e.g. the experiment's data/imax)")
    ap.add_argument("--base", type=Path, required=True, help="the pretrained base to fine-tune")
    ap.add_argument("--tasks", default="calculation,multiclass", help="comma-separated tasks, one run each")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the quick preset's)")
    ap.add_argument("--split", default="test", help="split scored (test: this script selects nothing)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("runs/single_task"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/single_task.json"))
    args = ap.parse_args()
    results: dict[str, Any] = {"machine": {"platform": platform.platform(), "processor": platform.processor()},
                               "data": str(args.data), "base": str(args.base), "split": args.split, "runs": []}
    for task in [t for t in args.tasks.split(",") if t]:
        results["runs"].append(one_task(args.data, args.base, args.work, task, args.steps, args.split, args.seed))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        r = results["runs"][-1]
        print(f"{task}: {r['distinct_answers']} distinct answers in {r['prompts']}; model - trivial "
              f"{r['model_minus_trivial']:+.4f} {r['model_minus_trivial_ci']}; model - shuffled "
              f"{r['model_minus_shuffled']:+.4f} {r['model_minus_shuffled_ci']}", flush=True)


if __name__ == "__main__":
    main()
