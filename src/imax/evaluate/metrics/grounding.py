"""REC (phrase → box) and REG (box → region name) metrics."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from imax.evaluate import nlg
from imax.schema.box import Box


def box_ious(pred: Sequence[Box | None], true: Sequence[Box]) -> np.ndarray:
    """IoU per pair, shape (N,); an unparsed box (``None``) has IoU 0. See :meth:`Box.iou`."""
    if len(pred) != len(true):
        raise ValueError(f"{len(pred)} predictions but {len(true)} references")
    return np.array([0.0 if p is None else p.iou(t) for p, t in zip(pred, true, strict=True)], dtype=float)


def rec_metrics(ious: np.ndarray, targets: Sequence[str], threshold: float = 0.5) -> dict[str, float]:
    """``acc_iou50`` (share of IoU ≥ threshold; the suffix is 100 × threshold), ``mean_iou``, and both
    per target phrase as ``<target>/acc_iou50``, ``<target>/mean_iou``.

    ``ious`` (N,) from :func:`box_ious` (unparsed already 0); ``targets`` (N,) the queried phrase
    (heart, left lung, right lung, both lungs).
    """
    ious = np.asarray(ious, dtype=float)
    key = f"acc_iou{round(threshold * 100)}"
    if ious.size == 0:
        return {key: float("nan"), "mean_iou": float("nan")}
    out = {key: float(np.mean(ious >= threshold)), "mean_iou": float(ious.mean())}
    tg = np.asarray(targets, dtype=object)
    for t in sorted(set(targets)):
        sel = ious[tg == t]
        out[f"{t}/{key}"] = float(np.mean(sel >= threshold))
        out[f"{t}/mean_iou"] = float(sel.mean())
    return out


_EDGE = re.compile(r"^[\s\"'`.,;:!?()\[\]<>/]+|[\s\"'`.,;:!?()\[\]<>/]+$")


def normalise_region(text: str) -> str:
    """Lower-case, single-spaced, edge punctuation and a leading article removed ("The heart." → "heart")."""
    t = _EDGE.sub("", " ".join(text.lower().split()))
    return re.sub(r"^(?:the|a|an)\s+", "", t)


def reg_metrics(pred: Sequence[str | None], true: Sequence[str]) -> dict[str, float]:
    """``accuracy`` of normalised region names plus BLEU-1..4 and ROUGE-L of the free text.

    ``None`` (unparsed) is wrong and scores as the empty string in BLEU / ROUGE.
    """
    if len(pred) != len(true):
        raise ValueError(f"{len(pred)} predictions but {len(true)} references")
    if not pred:
        return {"accuracy": float("nan")}
    hyps = ["" if p is None else p for p in pred]
    acc = np.mean(
        [
            p is not None and normalise_region(p) == normalise_region(t)
            for p, t in zip(pred, true, strict=True)
        ]
    )
    return {"accuracy": float(acc), **nlg.bleu(hyps, true), "rouge_l": nlg.rouge_l(hyps, true)}
