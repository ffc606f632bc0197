"""``imax evaluate``: generate on a split, parse, score; writes predictions.jsonl, metrics.json, metrics.md."""

from __future__ import annotations

from imax.schema.config.evaluate import EvalConfig as Config

HELP = "Evaluate a checkpoint on a built dataset split (metrics.json, metrics.md, predictions.jsonl)."


def run(cfg: Config) -> int:
    from imax.evaluate import evaluate_model

    metrics = evaluate_model(
        cfg, progress=lambda done, total: print(f"\rgenerated {done}/{total}", end="", flush=True)
    )
    gen = metrics["meta"]["generation"]
    print(f"  in {gen['seconds']:.1f} s ({gen['samples_per_s']:.1f} samples/s, {gen['decoder']})")
    for task, p in metrics["primary"].items():
        print(
            f"{task:12s} {p['metric']:>14s} = {p['value'] if p['value'] is not None else float('nan'):.4f}"
            f"   parse failures {metrics[task]['parse_failure_rate']:.1%}"
        )
    print(f"multi-task average = {metrics['multitask_average']:.4f}   → {cfg.out}/metrics.json")
    for key, name in (("trivial_baseline", "trivial baseline"), ("shuffled_image", "image-shuffled")):
        avg = metrics.get(key, {}).get("multitask_average")
        if avg:
            lo, hi = avg["diff_ci"]
            print(f"{name:>18s} = {avg['value']:.4f}   model − it {avg['diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    return 0


__all__ = ["HELP", "Config", "run"]
