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


def rec_metrics(
    ious: np.ndarray, targets: Sequence[str], thresholds: Sequence[float] = (0.5, 0.75)
) -> dict[str, float]:
    """``mean_iou`` and ``acc_iou<100·t>`` (share of IoU ≥ t) for every threshold t, overall and per
    target phrase as ``<target>/mean_iou``, ``<target>/acc_iou50``, ...

    ``ious`` (N,) from :func:`box_ious` (unparsed already 0); ``targets`` (N,) the queried phrase
    (heart, left lung, right lung, both lungs). acc@0.5 alone cannot tell a grounding model from the
    mean box (on real radiographs the mean lung box reaches acc@0.5 of 0.92–0.99 but acc@0.75 of
    0.32–0.58), hence mean IoU and acc@0.75 beside it.
    """
    ious = np.asarray(ious, dtype=float)
    keys = {f"acc_iou{round(t * 100)}": t for t in thresholds}

    def block(sel: np.ndarray, prefix: str = "") -> dict[str, float]:
        if sel.size == 0:
            return {f"{prefix}mean_iou": float("nan")} | {f"{prefix}{k}": float("nan") for k in keys}
        return {f"{prefix}mean_iou": float(sel.mean())} | {
            f"{prefix}{k}": float(np.mean(sel >= t)) for k, t in keys.items()
        }

    out = block(ious)
    tg = np.asarray(targets, dtype=object)
    for t in sorted(set(targets)) if ious.size else []:
        out.update(block(ious[tg == t], f"{t}/"))
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
