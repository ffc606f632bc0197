"""Report-generation metrics: clinical efficacy (rule-based CheXpert-14 labeler) and NLG scores."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from imax.evaluate import labeler, nlg
from imax.evaluate.metrics.classification import f1_counts, f1_from_counts, label_matrix
from imax.schema.records import CHEXPERT14


def metric_labelers(names: Iterable[str], plugin_metrics: dict[str, tuple[str, ...]] | None = None) -> dict[str, str]:
    """Which labeler produced each clinical-efficacy metric in ``names``: ``ce_*`` →
    :data:`imax.evaluate.labeler.LABELER_NAME` ("imax-rules-chexpert"); a plug-in's metrics (``plugin_metrics``:
    plug-in name → its metric names, e.g. ``{"chexbert": ("chexbert_f1_micro", ...)}``) → the plug-in name.
    Stored in the report task's ``details["labelers"]`` so every number says whose labels it counts."""
    owner = {m: plugin for plugin, ms in (plugin_metrics or {}).items() for m in ms}
    out: dict[str, str] = {}
    for name in names:
        if name.startswith("ce_"):
            out[name] = labeler.LABELER_NAME
        elif name in owner:
            out[name] = owner[name]
    return out


def ce_label_matrix(texts: Sequence[str | None], uncertain_as_positive: bool = False) -> np.ndarray:
    """Boolean (N, 14) positive-observation matrix in ``CHEXPERT14`` order; ``None`` (unparsed) has no
    label at all (not even "No Finding": a missing report finds nothing)."""
    sets = [None if t is None else labeler.positive_labels(t, uncertain_as_positive) for t in texts]
    return label_matrix(sets, CHEXPERT14)


def ce_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``ce_f1_micro``, ``ce_f1_macro``, ``ce_precision_micro``, ``ce_recall_micro``, ``ce_f1/<obs>``
    from (N, 14) label matrices of generated and reference reports."""
    tp, fp, fn = f1_counts(pred, true)
    per, macro, micro = f1_from_counts(tp, fp, fn)
    p_den, r_den = tp.sum() + fp.sum(), tp.sum() + fn.sum()
    out = {
        "ce_f1_micro": micro,
        "ce_f1_macro": macro,
        "ce_precision_micro": float(tp.sum() / p_den) if p_den else float("nan"),
        "ce_recall_micro": float(tp.sum() / r_den) if r_den else float("nan"),
    }
    out.update({f"ce_f1/{c}": float(v) for c, v in zip(CHEXPERT14, per, strict=True)})
    return out


def report_metrics(
    hyps: Sequence[str | None],
    refs: Sequence[str],
    meteor: nlg.Meteor | None = None,
    uncertain_as_positive: bool = False,
    labels: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float | None]:
    """Clinical efficacy + BLEU-1..4, ROUGE-L, CIDEr, and METEOR when a server is given (else None).

    ``None`` hypotheses (unparsed) score as empty text: no labels, zero n-gram credit. ``labels``:
    precomputed (hyp, ref) matrices from :func:`ce_label_matrix`, to label each report once.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if labels is None:
        labels = ce_label_matrix(hyps, uncertain_as_positive), ce_label_matrix(refs, uncertain_as_positive)
    out: dict[str, float | None] = dict(ce_metrics(*labels))
    texts = ["" if h is None else h for h in hyps]
    out.update(nlg.bleu(texts, refs))
    out["meteor"] = meteor.score(texts, refs) if meteor is not None and texts else None
    out["rouge_l"] = nlg.rouge_l(texts, refs)
    out["cider"] = nlg.cider(texts, refs)
    return out
