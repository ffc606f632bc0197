"""Evaluation: batched generation, parsing with the task table, metrics (arrays in → dict out), the
offline rule-based CheXpert labeler, NLG wrappers, plug-in clinical scorers, paired image bootstrap.

Entry points: :func:`evaluate_model` (a checkpoint on a built dataset split) and
:func:`score_predictions` (predictions you already have, no model needed).
"""

from imax.evaluate.aggregate import PRIMARY, multitask_average, relative_gains, to_score
from imax.evaluate.run import evaluate_model, metrics_markdown, write_outputs
from imax.evaluate.score import compare_runs, parse_predictions, score_predictions, score_tasks

__all__ = [
    "PRIMARY",
    "compare_runs",
    "evaluate_model",
    "metrics_markdown",
    "multitask_average",
    "parse_predictions",
    "relative_gains",
    "score_predictions",
    "score_tasks",
    "to_score",
    "write_outputs",
]
