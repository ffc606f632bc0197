"""``imax experiment``: the whole study from one command (README's main job)."""

from __future__ import annotations

from imax.schema.config.experiment import ExperimentConfig

Config = ExperimentConfig
HELP = "Run IMAX vs DMAX vs pseudo-IMAX end to end (phantom by default) and write an HTML report."


def run(cfg: ExperimentConfig) -> int:
    from transformers.utils import logging as hf_logging

    from imax.experiment import run_experiment
    from imax.model import check_model_dir, load_tokenizer

    if cfg.base is not None:  # before minutes of phantom and build work: a bad base fails now
        load_tokenizer(check_model_dir(cfg.base))

    # The study reloads the base and its checkpoints a dozen times; transformers' per-load "Loading
    # weights" bar would bury imax's own stage lines (single-model commands keep it).
    hf_logging.disable_progress_bar()
    results = run_experiment(cfg)
    runs = results["runs"]
    print("\nmulti-task average: " + ", ".join(
        f"{arm} {block['multitask_average']:.4f}" for arm, block in runs.items() if block.get("multitask_average") is not None
    ))
    from imax.report.controls import headline
    from imax.report.numbers import plain_answer

    blocking, notes = headline(results)
    for sentence in notes + blocking:
        print(sentence)
    print(("for the record only: " if blocking else "") + plain_answer(results))
    print(f"wall time {results['wall_seconds']:.0f} s; report {cfg.out}/report.html")
    return 0
