"""Calculation (CTR / CPAR) metrics: MAE, RMSE, accuracy within ±tol, cardiomegaly from CTR > 0.5."""

from __future__ import annotations

import numpy as np

UNPARSED_ERROR = 1.0
"""Absolute error charged for an unparseable value: the whole range of a ratio in [0, 1], so a
missing answer never scores better than any written one."""


def abs_errors(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per-sample |pred − true|, shape (N,); NaN predictions (unparsed) cost ``UNPARSED_ERROR``."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if pred.shape != true.shape:
        raise ValueError(f"pred {pred.shape} and true {true.shape} differ")
    err = np.abs(pred - true)
    return np.where(np.isnan(pred), UNPARSED_ERROR, np.minimum(err, UNPARSED_ERROR))


def _binary_f1(pred: np.ndarray, true: np.ndarray) -> float:
    tp = float(np.sum(pred & true))
    fp = float(np.sum(pred & ~true))
    fn = float(np.sum(~pred & true))
    return float("nan") if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def calculation_metrics(
    pred: np.ndarray, true: np.ndarray, tol: float = 0.05, threshold: float | None = None
) -> dict[str, float]:
    """Metrics of predicted vs true ratios, shapes (N,); ``pred`` is NaN where unparsed.

    ``mae``, ``rmse`` and ``acc_within_<tol>`` charge unparsed answers ``UNPARSED_ERROR`` (wrong);
    ``mae_parsed`` is the MAE over parsed answers only, for reading alongside the parse-failure rate.
    With ``threshold`` (CTR: 0.5) also ``cardiomegaly_accuracy`` / ``cardiomegaly_f1`` (positive class:
    ratio > threshold); an unparsed answer is scored as the wrong class. Abs errors are clipped to 1.
    """
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    if pred.size == 0:
        return {"mae": float("nan"), "rmse": float("nan"), f"acc_within_{tol:g}": float("nan")}
    err = abs_errors(pred, true)
    parsed = ~np.isnan(pred)
    out = {
        "mae": float(err.mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        # The 1e-9 keeps "0.52 vs 0.47" (a float error of 0.05000000000000004) inside the band.
        f"acc_within_{tol:g}": float(np.mean(err <= tol + 1e-9)),
        "mae_parsed": float(err[parsed].mean()) if parsed.any() else float("nan"),
    }
    if threshold is not None:
        t = true > threshold
        p = np.where(parsed, pred > threshold, ~t)  # unparsed → the wrong class
        out["cardiomegaly_accuracy"] = float(np.mean(p == t))
        out["cardiomegaly_f1"] = _binary_f1(p, t)
    return out
