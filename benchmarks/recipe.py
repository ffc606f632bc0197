"""Choose the fine-tuning recipe on the VAL split, blind to which arm wins (issue 15's rule).

For every candidate recipe (learning rate x step budget) both arms (IMAX and DMAX, built exactly as
``imax experiment`` builds them) are fine-tuned from the same base with the same seed and scored on the
IMAX build's val split (image-centric, the test split is never touched) beside each arm's own trivial
baselines. The criterion is the multi-task average of model − trivial baseline, **averaged over both
arms**: it rewards a recipe under which models use the image, never one under which one arm beats the
other (the IMAX − DMAX difference is recorded but not used). Writes one JSON with every candidate's
per-arm, per-task gaps, the criterion and the choice.

    .venv/bin/python benchmarks/recipe.py --data runs/quick/data --base runs/cache/<hash> \
        --lrs 5e-4,1e-3,2e-3 --steps 300 --out benchmarks/results/recipe.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ARMS = ("imax", "dmax")


def candidate(data: Path, base: Path, work: Path, preset: str, lr: float, steps: int, seed: int,
              projector_lr: float | None = None, loss_average: str | None = None,
              length_group: int | None = None, lora_plus_ratio: float | None = None,
              train_lm_head: bool | None = None, task_temperature: float | None = None,
              batch_size: int | None = None, lora_dropout: float | None = None) -> dict[str, Any]:
    """Train both arms with one recipe and score them on the val split beside their trivial baselines.

    The configs are the experiment's own (:func:`imax.experiment.plan.train_config` / ``eval_config``
    with the preset's sizes), with only the candidate's settings changed and the split switched to val, so
    the recipe chosen here is exactly the one ``imax experiment`` runs."""
    from imax.evaluate import evaluate_model
    from imax.experiment.plan import eval_config, make_plan, train_config, trains_lm_head
    from imax.schema.config.experiment import ExperimentConfig
    from imax.train import train

    cfg = ExperimentConfig(out=work, preset=preset, base=base, lr=lr, steps=steps, projector_lr=projector_lr,
                           loss_average=loss_average, length_group=length_group, lora_plus_ratio=lora_plus_ratio,
                           train_lm_head=train_lm_head, task_temperature=task_temperature, batch_size=batch_size,
                           fisher=False)
    plan = make_plan(cfg)
    if lora_dropout is not None:
        # A recipe-selection knob, not a study setting: the experiment keeps LoraSettings' dropout.
        plan = replace(plan, model=replace(plan.model, lora=replace(plan.model.lora, dropout=lora_dropout)))
    out: dict[str, Any] = {"lr": lr, "projector_lr": cfg.resolved("projector_lr"), "steps": steps,
                           "loss_average": cfg.resolved("loss_average"), "length_group": cfg.resolved("length_group"),
                           "lora_plus_ratio": cfg.resolved("lora_plus_ratio"), "train_lm_head": trains_lm_head(cfg),
                           "task_temperature": cfg.resolved("task_temperature"),
                           "batch_size": cfg.resolved("batch_size"), "lora_dropout": plan.model.lora.dropout,
                           "arms": {}}
    for arm in ARMS:
        run = work / (f"{arm}-lr{lr:g}-s{steps}" + (f"-p{projector_lr:g}" if projector_lr is not None else "")
                      + f"-{cfg.resolved('loss_average')}"
                      + (f"-g{cfg.resolved('length_group')}" if cfg.resolved("length_group") > 1 else "")
                      + (f"-lp{cfg.resolved('lora_plus_ratio'):g}" if cfg.resolved("lora_plus_ratio") else "")
                      + ("-head" if trains_lm_head(cfg) else "")
                      + (f"-t{cfg.resolved('task_temperature'):g}" if cfg.resolved("task_temperature") != 1 else "")
                      + (f"-b{batch_size}" if batch_size is not None else "")
                      + (f"-d{lora_dropout:g}" if lora_dropout is not None else ""))
        t0 = time.perf_counter()
        if not (run / "checkpoints" / "final").is_dir():
            train(train_config(cfg, plan, base, data / arm, run, seed))
        trained = time.perf_counter() - t0
        ecfg = replace(eval_config(cfg, plan, run, run / "val", seed, data / arm), data=data / "imax", split="val",
                       bootstrap=500, meteor=False)
        t1 = time.perf_counter()
        if not (ecfg.out / "metrics.json").is_file():
            evaluate_model(ecfg)
        metrics = json.loads((ecfg.out / "metrics.json").read_text())
        trivial = metrics["trivial_baseline"]
        shuffled = metrics.get("shuffled_image", {})
        losses = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if '"loss"' in line]
        out["arms"][arm] = {
            "gap_vs_trivial": {t: c["diff"] for t, c in trivial["tasks"].items()},
            "gap_vs_trivial_ci": {t: c["diff_ci"] for t, c in trivial["tasks"].items()},
            "above_trivial": trivial["above_zero"],
            "multitask_gap": trivial["multitask_average"]["diff"],
            "shuffled_drop": shuffled.get("multitask_average", {}).get("diff"),
            "loss_first_last": [losses[0]["loss"], losses[-1]["loss"]] if losses else None,
            "train_seconds": round(trained, 1), "eval_seconds": round(time.perf_counter() - t1, 1),
        }
    gaps = [out["arms"][a]["multitask_gap"] for a in ARMS]
    out["criterion"] = sum(gaps) / len(gaps)  # mean over both arms: blind to which arm is ahead
    out["imax_minus_dmax_not_used"] = gaps[0] - gaps[1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder holding the imax/ and dmax/ builds")
    ap.add_argument("--base", type=Path, required=True, help="the pretrained base every candidate starts from")
    ap.add_argument("--lrs", default="5e-4,1e-3,2e-3")
    ap.add_argument("--steps", default="300", help="comma-separated step budgets")
    ap.add_argument("--projector-lr", type=float, default=None, help="projector peak lr (default: the preset's)")
    ap.add_argument("--loss-average", choices=("token", "sample"), default=None,
                    help="how answer-token losses are averaged (default: the preset's)")
    ap.add_argument("--length-group", type=int, default=None,
                    help="micro-batches sorted together by length (default: the preset's; 1: off)")
    ap.add_argument("--lora-plus-ratio", type=float, default=None,
                    help="LoRA+ rate ratio of the B matrices (default: the preset's)")
    ap.add_argument("--train-lm-head", choices=("yes", "no"), default=None,
                    help="train the LM head beside LoRA (default: on a base imax pretrained only)")
    ap.add_argument("--batch-size", type=int, default=None, help="global batch (default: the preset's)")
    ap.add_argument("--task-temperature", type=float, default=None,
                    help="task mixing temperature (default: the preset's; 1: by volume)")
    ap.add_argument("--lora-dropout", type=float, default=None,
                    help="LoRA dropout of every candidate (default: LoraSettings' 0.05)")
    ap.add_argument("--preset", default="quick", help="experiment preset whose recipe the candidates vary")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("runs/recipe"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/recipe.json"))
    args = ap.parse_args()
    results = {"machine": {"platform": platform.platform(), "processor": platform.processor()},
               "split": "val of the IMAX build (image-centric); baselines from each arm's train split",
               "criterion": "multi-task average of (model - trivial baseline), mean over the IMAX and DMAX arms",
               "base": str(args.base), "candidates": []}
    for steps in [int(s) for s in args.steps.split(",")]:
        for lr in [float(x) for x in args.lrs.split(",")]:
            results["candidates"].append(candidate(args.data, args.base, args.work, args.preset, lr, steps,
                                                   args.seed, args.projector_lr, args.loss_average,
                                                   args.length_group, args.lora_plus_ratio,
                                                   None if args.train_lm_head is None else args.train_lm_head == "yes",
                                                   args.task_temperature, args.batch_size, args.lora_dropout))
            best = max(results["candidates"], key=lambda c: c["criterion"])
            results["chosen"] = {"lr": best["lr"], "steps": best["steps"], "criterion": best["criterion"]}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2) + "\n")  # after every candidate: partial results survive
            c = results["candidates"][-1]
            print(f"lr {lr:g} steps {steps}: criterion {c['criterion']:+.4f} "
                  + " ".join(f"{a}: gap {c['arms'][a]['multitask_gap']:+.4f} above {len(c['arms'][a]['above_trivial'])}"
                             f" shuffled drop {c['arms'][a]['shuffled_drop']}" for a in ARMS), flush=True)
    print(json.dumps(results["chosen"]))


if __name__ == "__main__":
    main()
