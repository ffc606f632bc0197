"""The Fisher spectrum of one model on one probe set: per-sample grads → Gram → eigenvalues → summaries."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from imax.fisher.grads import Method, gradient_gram
from imax.fisher.probe import collate_probe
from imax.fisher.spectrum import fisher_eigenvalues, restrict, spectrum_stats, task_cosine, task_index
from imax.schema.config.fisher import FisherConfig
from imax.schema.records import TASK_NAMES


@dataclass
class FisherResult:
    """Spectrum of F = (1/N) Σ gᵢgᵢᵀ and its summaries; ``per_task`` uses F_a = (1/n_a) Σ_{i∈a} gᵢgᵢᵀ.

    ``eigenvalues``: (N,) float64 descending (all N, zeros included). ``task_cosine``: (T, T) cosine of
    per-task mean gradients, rows/columns in ``tasks`` order (nan where a mean gradient is 0).
    """

    eigenvalues: np.ndarray
    se: float
    rho: float
    topk_ratio: float
    k: int
    trace: float
    eff_rank: float
    participation_ratio: float
    n_samples: int
    n_params: int
    method: str
    param_groups: int
    tasks: list[str] = field(default_factory=list)
    task_cosine: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    per_task: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (nan → None); the schema is in the :mod:`imax.fisher.run` docstring."""
        return {
            "se": self.se,
            "rho": _num(self.rho),
            "topk_ratio": _num(self.topk_ratio),
            "k": self.k,
            "trace": self.trace,
            "eff_rank": self.eff_rank,
            "participation_ratio": _num(self.participation_ratio),
            "n_samples": self.n_samples,
            "n_params": self.n_params,
            "method": self.method,
            "param_groups": self.param_groups,
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "per_task": {t: {k: _jsonable(v) for k, v in d.items()} for t, d in self.per_task.items()},
            "task_cosine": {"tasks": list(self.tasks), "matrix": _jsonable(self.task_cosine)},
        }


def _num(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, float):
        return _num(v)
    return v


def fisher_spectrum(
    model: nn.Module,
    batches: Sequence[Mapping[str, Any]],
    *,
    collate: Callable[[list[dict[str, Any]]], Mapping[str, Any]] | None = None,
    batch_size: int = 32,
    params: str | None = None,
    k: int = 5,
    method: Method = "auto",
    chunk_size: int = 32,
    max_jacobian_mb: float = 1024.0,
) -> FisherResult:
    """Empirical-Fisher spectrum of ``model`` over the samples of ``batches``.

    batches: collated dicts (``input_ids``, ``labels``, ``attention_mask``, ``pixel_values`` tensors,
    ``task`` / ``id`` lists), or probe *entries* (dicts without ``input_ids``) together with ``collate``
    (e.g. ``imax.data.TrainCollator``), which are then collated ``batch_size`` at a time.
    ``params``: regex over parameter names (None: the trainable ones).
    """
    batches = list(batches)
    if batches and "input_ids" not in batches[0]:
        if collate is None:
            raise ValueError("got entries, not collated batches: pass collate= (e.g. a TrainCollator)")
        batches = collate_probe(batches, collate, batch_size)
    gram = gradient_gram(
        model, batches, pattern=params, method=method, chunk_size=chunk_size, max_jacobian_mb=max_jacobian_mb
    )
    eig = fisher_eigenvalues(gram.kernel)
    stats = spectrum_stats(eig, k)
    groups = task_index(gram.tasks, order=[*TASK_NAMES, *sorted(set(gram.tasks) - set(TASK_NAMES))])
    per_task: dict[str, dict[str, Any]] = {}
    for t, idx in groups.items():
        e = fisher_eigenvalues(restrict(gram.kernel, idx), n=len(idx))
        per_task[t] = {"n": len(idx), **spectrum_stats(e, k), "eigenvalues": e.numpy()}
    return FisherResult(
        eigenvalues=eig.numpy(),
        se=stats["se"],
        rho=stats["rho"],
        topk_ratio=stats["topk_ratio"],
        k=k,
        trace=stats["trace"],
        eff_rank=stats["eff_rank"],
        participation_ratio=stats["participation_ratio"],
        n_samples=len(gram.tasks),
        n_params=gram.n_params,
        method=gram.method,
        param_groups=gram.param_groups,
        tasks=list(groups),
        task_cosine=task_cosine(gram.kernel, groups).numpy(),
        per_task=per_task,
    )


def spectrum_at(
    model: nn.Module, probe_batches: Sequence[Mapping[str, Any]], cfg: FisherConfig
) -> dict[str, Any]:
    """Callback for a training loop at a checkpoint: the spectrum's JSON dict (see ``to_json``).

    Leaves the model's train/eval mode and ``requires_grad`` flags as they were.
    """
    res = fisher_spectrum(
        model,
        probe_batches,
        batch_size=cfg.batch_size,
        params=cfg.params,
        k=cfg.k,
        method=cfg.method,
        chunk_size=cfg.chunk_size,
        max_jacobian_mb=cfg.max_jacobian_mb,
    )
    return res.to_json()
