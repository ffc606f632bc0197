"""The fixed probe set the Fisher is measured on: stratified over tasks, never from the test split.

The same probe set (same data dir, split, n, seed) must be used for every checkpoint and every run that
is compared, otherwise differences in spectra mix model and data effects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from imax.schema.records import TASK_NAMES


def stratified_quota(available: Mapping[str, int], n: int) -> dict[str, int]:
    """How many samples per task: as equal as possible, capped by what each task has.

    Leftover slots of small tasks go to the others (water-filling); the remainder after an equal split
    goes to tasks in the mapping's order. Sum = min(n, Σ available).
    """
    quota = dict.fromkeys(available, 0)
    left = min(n, sum(available.values()))
    while left > 0:
        open_ = [t for t in available if quota[t] < available[t]]
        share, extra = divmod(left, len(open_))
        for i, t in enumerate(open_):
            take = min(share + (1 if i < extra else 0), available[t] - quota[t])
            quota[t] += take
            left -= take
    return quota


def probe_set(
    entries: Sequence[Mapping[str, Any]], n: int = 256, seed: int = 0, split: str = "val"
) -> list[dict[str, Any]]:
    """``n`` entries of ``split``, stratified over tasks, drawn with ``numpy.random.default_rng(seed)``.

    entries: rows with at least ``split``, ``task`` and ``id``. Returns copies grouped by task
    (imax task order, then unknown task names sorted), each task's picks in ascending ``id`` order, so
    the result does not depend on the input order. Raises ``ValueError`` for the test split (the Fisher
    is an analysis of training, it must not touch held-out evaluation data) or when nothing matches.
    """
    if split == "test":
        raise ValueError("the Fisher probe set may not come from the test split; use 'val' or 'train'")
    pool = sorted((e for e in entries if e["split"] == split), key=lambda e: str(e["id"]))
    if not pool:
        raise ValueError(f"no entries in split {split!r} to draw a probe set from")
    known = [t for t in TASK_NAMES if any(e["task"] == t for e in pool)]
    other = sorted({str(e["task"]) for e in pool} - set(TASK_NAMES))
    by_task = {t: [e for e in pool if e["task"] == t] for t in known + other}
    quota = stratified_quota({t: len(v) for t, v in by_task.items()}, n)
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    for t, rows in by_task.items():
        pick = np.sort(rng.choice(len(rows), size=quota[t], replace=False))
        out.extend(dict(rows[i]) for i in pick)
    return out


def collate_probe(
    entries: Sequence[Mapping[str, Any]],
    collate: Callable[[list[Mapping[str, Any]]], Any],
    batch_size: int = 32,
) -> list[Any]:
    """The probe entries as collated batches of ``batch_size`` (e.g. ``collate = imax.data.TrainCollator(...)``),
    in order — what :func:`imax.fisher.spectrum_at` takes from a training loop."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return [collate(list(entries[i : i + batch_size])) for i in range(0, len(entries), batch_size)]
