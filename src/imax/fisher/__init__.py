"""Empirical Fisher spectra via per-sample gradients and the N × N Gram matrix (never P × P).

``fisher_spectrum(model, batches) -> FisherResult``; ``fisher_for_run(run, data, cfg)`` writes
``RUN/fisher.json``; ``spectrum_at(model, probe_batches, cfg)`` for a training-loop callback;
``probe_set(entries, n, seed, split)``; plots in :mod:`imax.fisher.plots` read the JSON only.
"""

from imax.fisher.core import FisherResult, fisher_spectrum, spectrum_at
from imax.fisher.grads import GramResult, gradient_gram, per_sample_grads, select_params
from imax.fisher.probe import collate_probe, probe_set, stratified_quota
from imax.fisher.run import fisher_for_run
from imax.fisher.spectrum import (
    dominant_ratio,
    fisher_eigenvalues,
    participation_ratio,
    spectral_entropy,
    spectrum_stats,
    task_cosine,
    topk_ratio,
)

__all__ = [
    "FisherResult",
    "GramResult",
    "collate_probe",
    "dominant_ratio",
    "fisher_eigenvalues",
    "fisher_for_run",
    "fisher_spectrum",
    "gradient_gram",
    "participation_ratio",
    "per_sample_grads",
    "probe_set",
    "select_params",
    "spectral_entropy",
    "spectrum_at",
    "spectrum_stats",
    "stratified_quota",
    "task_cosine",
    "topk_ratio",
]
