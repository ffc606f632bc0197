"""VQA metrics: exact match of answer sets (order-insensitive), overall and per question type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalise_answer(text: str) -> str:
    """Lower-case, single-spaced, without surrounding punctuation."""
    return " ".join(text.lower().split()).strip(" .,;:!?\"'")


def exact_matches(pred: Sequence[Sequence[str] | None], true: Sequence[Sequence[str]]) -> np.ndarray:
    """Boolean (N,): the predicted answer *set* equals the reference set; ``None`` (unparsed) never matches."""
    if len(pred) != len(true):
        raise ValueError(f"{len(pred)} predictions but {len(true)} references")
    return np.array(
        [
            p is not None and {normalise_answer(a) for a in p} == {normalise_answer(a) for a in t}
            for p, t in zip(pred, true, strict=True)
        ],
        dtype=bool,
    )


def vqa_metrics(
    pred: Sequence[Sequence[str] | None],
    true: Sequence[Sequence[str]],
    content_types: Sequence[str],
    semantic_types: Sequence[str],
) -> dict[str, float]:
    """``accuracy`` plus ``content/<type>/accuracy`` and ``semantic/<type>/accuracy``."""
    hit = exact_matches(pred, true)
    if hit.size == 0:
        return {"accuracy": float("nan")}
    out = {"accuracy": float(hit.mean())}
    for prefix, types in (("content", content_types), ("semantic", semantic_types)):
        arr = np.asarray(types, dtype=object)
        for t in sorted(set(types)):
            out[f"{prefix}/{t}/accuracy"] = float(hit[arr == t].mean())
    return out
