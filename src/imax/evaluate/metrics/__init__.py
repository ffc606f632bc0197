"""Pure metric functions, one module per task family: arrays / lists in, ``{metric: value}`` out.

Unparseable answers arrive here already encoded as wrong (NaN value, grade -1, ``None`` set or box);
each function documents how it scores them. Nothing here reads files, models or the task table.
"""

from imax.evaluate.metrics.calculation import calculation_metrics
from imax.evaluate.metrics.classification import (
    confusion_matrix,
    f1_counts,
    multiclass_metrics,
    multilabel_metrics,
    quadratic_weighted_kappa,
    ranking_metrics,
)
from imax.evaluate.metrics.grounding import box_ious, normalise_region, rec_metrics, reg_metrics
from imax.evaluate.metrics.report import report_metrics
from imax.evaluate.metrics.vqa import normalise_answer, vqa_metrics

__all__ = [
    "box_ious",
    "calculation_metrics",
    "confusion_matrix",
    "f1_counts",
    "multiclass_metrics",
    "multilabel_metrics",
    "normalise_answer",
    "normalise_region",
    "quadratic_weighted_kappa",
    "ranking_metrics",
    "rec_metrics",
    "reg_metrics",
    "report_metrics",
    "vqa_metrics",
]
