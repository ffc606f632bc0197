"""Multi-class (edema grade 0–3) and multi-label (finding sets) metrics.

F1 convention used everywhere in imax: a class with no true and no predicted positives has an
*undefined* F1 (NaN) and is left out of the macro average (rather than counted as 0 or 1), so a small
test set that lacks a rare class neither punishes nor flatters a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def f1_counts(
    pred: np.ndarray, true: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (tp, fp, fn), each shape (C,), from boolean matrices (N, C).

    ``mask`` (N, C) marks which (sample, class) cells count (e.g. only the classes of each sample's
    label space); default all.
    """
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    m = np.ones_like(pred, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    tp = np.sum(pred & true & m, axis=0)
    fp = np.sum(pred & ~true & m, axis=0)
    fn = np.sum(~pred & true & m, axis=0)
    return tp, fp, fn


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(per-class F1 (C,) with NaN where undefined, macro F1 over defined classes, micro F1)."""
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), np.nan)
    macro = float(np.nanmean(per)) if np.any(~np.isnan(per)) else float("nan")
    total = 2 * tp.sum() + fp.sum() + fn.sum()
    micro = float(2 * tp.sum() / total) if total > 0 else float("nan")
    return per, macro, micro


def confusion_matrix(pred: np.ndarray, true: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes + 1): rows true class, columns predicted class; the last column
    counts unparsed predictions (encoded as -1)."""
    pred, true = np.asarray(pred, dtype=int), np.asarray(true, dtype=int)
    cm = np.zeros((n_classes, n_classes + 1), dtype=int)
    cols = np.where(pred < 0, n_classes, pred)
    np.add.at(cm, (true, cols), 1)
    return cm


def quadratic_weighted_kappa(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    """Cohen's kappa with quadratic weights w_ij = (i − j)² / (K − 1)² between two ratings (N,).

    κ = 1 − Σ w·O / Σ w·E, O the observed confusion counts and E the outer product of the marginals
    divided by N. NaN when Σ w·E = 0 (both raters constant on one class: agreement is undefined).
    """
    a, b = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
    if a.size == 0:
        return float("nan")
    k = n_classes
    obs = np.zeros((k, k))
    np.add.at(obs, (a, b), 1)
    exp = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / a.size
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    den = float((w * exp).sum())
    return float("nan") if den == 0 else 1.0 - float((w * obs).sum()) / den


def multiclass_metrics(pred: np.ndarray, true: np.ndarray, n_classes: int = 4) -> dict[str, float]:
    """``accuracy``, ``macro_f1``, ``quadratic_kappa`` of integer grades (N,); ``pred`` -1 = unparsed.

    Unparsed answers are wrong for accuracy and F1 (a false negative of the true class, nobody's true
    positive); for kappa they take the grade farthest from the truth (the worst ordinal answer), since
    kappa has no "no answer" category.
    """
    pred, true = np.asarray(pred, dtype=int), np.asarray(true, dtype=int)
    if pred.size == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "quadratic_kappa": float("nan")}
    classes = np.arange(n_classes)
    p1 = pred[:, None] == classes[None, :]
    t1 = true[:, None] == classes[None, :]
    _, macro, _ = f1_from_counts(*f1_counts(p1, t1))
    worst = np.where(true <= (n_classes - 1) / 2, n_classes - 1, 0)
    return {
        "accuracy": float(np.mean(pred == true)),
        "macro_f1": macro,
        "quadratic_kappa": quadratic_weighted_kappa(np.where(pred < 0, worst, pred), true, n_classes),
    }


def label_matrix(sets: Sequence[frozenset[str] | set[str] | None], classes: Sequence[str]) -> np.ndarray:
    """Boolean (N, C) membership matrix; ``None`` (unparsed) is the empty set."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(sets), len(classes)), dtype=bool)
    for n, s in enumerate(sets):
        for label in s or ():
            if label in index:
                out[n, index[label]] = True
    return out


def multilabel_metrics(
    pred: Sequence[frozenset[str] | set[str] | None],
    true: Sequence[frozenset[str] | set[str]],
    classes: Sequence[str],
) -> dict[str, float]:
    """``macro_f1``, ``micro_f1``, ``example_accuracy`` (exact set match) and ``f1/<class>``.

    ``None`` (unparsed) predicts no label: zero credit on the sample's positives. Predicted labels
    outside ``classes`` are ignored by the F1s but break an exact set match.
    """
    if len(pred) != len(true):
        raise ValueError(f"{len(pred)} predictions but {len(true)} references")
    per, macro, micro = f1_from_counts(*f1_counts(label_matrix(pred, classes), label_matrix(true, classes)))
    out = {
        "macro_f1": macro,
        "micro_f1": micro,
        "example_accuracy": float(
            np.mean([p is not None and set(p) == set(t) for p, t in zip(pred, true, strict=True)])
        )
        if pred
        else float("nan"),
    }
    out.update({f"f1/{c}": float(v) for c, v in zip(classes, per, strict=True)})
    return out


def ranking_metrics(scores: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``map`` and ``auroc``: macro means over classes with both positives and negatives.

    ``scores`` (N, C) per-label scores (e.g. log-likelihoods), ``truth`` (N, C) boolean.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth, dtype=bool)
    aps, aucs = [], []
    for c in range(truth.shape[1]):
        pos = truth[:, c].sum()
        if 0 < pos < truth.shape[0]:
            aps.append(average_precision_score(truth[:, c], scores[:, c]))
            aucs.append(roc_auc_score(truth[:, c], scores[:, c]))
    return {
        "map": float(np.mean(aps)) if aps else float("nan"),
        "auroc": float(np.mean(aucs)) if aucs else float("nan"),
    }
