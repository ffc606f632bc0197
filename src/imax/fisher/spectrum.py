"""Fisher spectra from the sample Gram matrix — pure tensor functions (float64 throughout).

With J the N × P matrix of per-sample gradients, the empirical Fisher is F = (1/N) JᵀJ (P × P) and the
Gram matrix is G = (1/N) J Jᵀ (N × N). Both share their non-zero eigenvalues (SVD of J/√N), so the
spectrum of F costs one N × N ``eigh`` instead of a P × P one. Functions here take ``kernel = J Jᵀ``
(not divided by N) so that sub-blocks can be renormalised by their own sample count.

Round-off: G is PSD in exact arithmetic, but ``eigh`` returns eigenvalues perturbed by about
``N · eps · λ₁``; those below ``tol = N · eps(float64) · λ₁`` (negative ones included) are set to 0,
and the entropy/ratios use only the remaining positive ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def fisher_eigenvalues(kernel: Tensor, n: int | None = None) -> Tensor:
    """Eigenvalues of F from ``kernel = J Jᵀ`` (N × N). Returns (N,) float64, descending, ≥ 0.

    ``n`` is the Fisher's normaliser (default N = the kernel's size).
    """
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be square, got {tuple(kernel.shape)}")
    size = kernel.shape[0]
    if size == 0:
        return torch.zeros(0, dtype=torch.float64)
    g = kernel.to(torch.float64) / (n or size)
    g = (g + g.T) / 2  # exact symmetry for eigh; accumulation order can break it at the ulp level
    eig = torch.linalg.eigvalsh(g).flip(0)
    tol = size * torch.finfo(torch.float64).eps * max(float(eig[0]), 0.0)
    return torch.where(eig > tol, eig, torch.zeros_like(eig))


def _probs(eig: Tensor) -> Tensor:
    pos = eig[eig > 0]
    return pos / pos.sum()


def spectral_entropy(eig: Tensor) -> float:
    """SE = −Σ pᵢ ln pᵢ with pᵢ = λᵢ / Σλ over the positive eigenvalues (nats); 0 for an empty spectrum."""
    p = _probs(eig)
    return float(-(p * p.log()).sum()) if p.numel() else 0.0


def dominant_ratio(eig: Tensor) -> float:
    """ρ = λ₁ / Σλ (nan for an all-zero spectrum)."""
    return topk_ratio(eig, 1)


def topk_ratio(eig: Tensor, k: int) -> float:
    """Σ of the ``k`` largest eigenvalues / Σλ (nan for an all-zero spectrum)."""
    total = float(eig.clamp(min=0).sum())
    if total <= 0:
        return math.nan
    return float(eig.sort(descending=True).values[:k].clamp(min=0).sum()) / total


def participation_ratio(eig: Tensor) -> float:
    """(Σλ)² / Σλ² — an effective rank that weights by energy (nan for an all-zero spectrum)."""
    e = eig.clamp(min=0)
    sq = float((e * e).sum())
    return float(e.sum()) ** 2 / sq if sq > 0 else math.nan


def spectrum_stats(eig: Tensor, k: int = 5) -> dict[str, float]:
    """All scalar summaries of one spectrum (eig (N,) ≥ 0): se, rho, topk_ratio, trace, eff_rank, pr."""
    se = spectral_entropy(eig)
    return {
        "se": se,
        "rho": dominant_ratio(eig),
        "topk_ratio": topk_ratio(eig, k),
        "trace": float(eig.clamp(min=0).sum()),
        "eff_rank": math.exp(se) if (eig > 0).any() else 0.0,
        "participation_ratio": participation_ratio(eig),
    }


def task_index(tasks: Sequence[str], order: Sequence[str] | None = None) -> dict[str, Tensor]:
    """Sample indices per task, tasks in ``order`` (default: first appearance); absent tasks skipped."""
    names = list(dict.fromkeys(order if order is not None else tasks))
    out = {}
    for t in names:
        idx = [i for i, x in enumerate(tasks) if x == t]
        if idx:
            out[t] = torch.tensor(idx, dtype=torch.long)
    return out


def restrict(kernel: Tensor, idx: Tensor) -> Tensor:
    """The kernel of a sample subset: ``kernel[idx][:, idx]`` ((n, n)); pass ``n`` = len(idx) to
    :func:`fisher_eigenvalues` to get that subset's own Fisher F_a = (1/n_a) Σ_{i∈a} gᵢgᵢᵀ."""
    return kernel[idx][:, idx]


def task_mean_gram(kernel: Tensor, groups: dict[str, Tensor]) -> Tensor:
    """⟨ḡ_a, ḡ_b⟩ for the per-task mean gradients, from the kernel alone. Returns (T, T) float64.

    ḡ_a = (1/n_a) Σ_{i∈a} gᵢ, so ⟨ḡ_a, ḡ_b⟩ = Mᵀ K M with M[i, a] = 1/n_a for i in task a.
    """
    m = torch.zeros(kernel.shape[0], len(groups), dtype=torch.float64)
    for j, idx in enumerate(groups.values()):
        m[idx, j] = 1.0 / len(idx)
    return m.T @ kernel.to(torch.float64) @ m


def task_cosine(kernel: Tensor, groups: dict[str, Tensor]) -> Tensor:
    """Cosine between per-task mean gradients (T × T float64; nan where a mean gradient is 0).

    Negative entries are conflicting tasks (their average updates point against each other).
    """
    s = task_mean_gram(kernel, groups)
    norms = s.diagonal().clamp(min=0).sqrt()
    denom = norms[:, None] * norms[None, :]
    return torch.where(denom > 0, s / denom, torch.full_like(s, math.nan))
