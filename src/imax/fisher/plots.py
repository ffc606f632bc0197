"""Figures from saved ``fisher.json`` files only (matplotlib Agg; nothing here touches a model).

Inputs are paths to ``fisher.json`` or its already-loaded records (a list of per-checkpoint dicts).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI / the CPU boxes
import matplotlib.pyplot as plt
import numpy as np

Records = Sequence[Mapping[str, Any]]


def read_records(src: str | Path | Records) -> list[dict[str, Any]]:
    """``fisher.json`` records from a path or as given."""
    data = json.loads(Path(src).read_text()) if isinstance(src, (str, Path)) else src
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise ValueError("fisher.json must hold a list of per-checkpoint records")
    return [dict(r) for r in data]


def _x(rec: Mapping[str, Any], axis: str, i: int) -> float:
    v = rec.get(axis)
    return float(v) if v is not None else float(i)  # no state.json: fall back to the checkpoint order


def plot_trajectory(
    runs: Mapping[str, str | Path | Records], out: str | Path, x: Literal["fraction", "step"] = "fraction"
) -> Path:
    """SE (left) and ρ (right) over training, one line per run (e.g. ``{"imax": p1, "dmax": p2}``)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for label, src in runs.items():
        recs = read_records(src)
        xs = [_x(r, x, i) for i, r in enumerate(recs)]
        for ax, key in zip(axes, ("se", "rho"), strict=True):
            ys = [np.nan if r.get(key) is None else r[key] for r in recs]
            ax.plot(xs, ys, marker="o", label=label)
            for xi, yi, r in zip(xs, ys, recs, strict=True):
                ax.annotate(str(r.get("checkpoint", "")), (xi, yi), fontsize=6, alpha=0.6)
    axes[0].set_ylabel("spectral entropy SE (nats)")
    axes[1].set_ylabel("dominant-eigenvalue ratio ρ = λ₁/Σλ")
    for ax in axes:
        ax.set_xlabel("training fraction" if x == "fraction" else "step")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("Empirical Fisher over training (lower SE / higher ρ: more concentrated)")
    return _save(fig, out)


def plot_spectra(src: str | Path | Records, out: str | Path, title: str | None = None) -> Path:
    """Sorted eigenvalues (log scale; zeros dropped) per checkpoint of one run."""
    recs = read_records(src)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for r in recs:
        eig = np.asarray(r["eigenvalues"], dtype=float)
        eig = eig[eig > 0]
        ax.semilogy(np.arange(1, eig.size + 1), eig, label=f"{r.get('checkpoint')} (SE {r['se']:.2f})")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("λ (Fisher)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(title or "Fisher spectrum per checkpoint")
    return _save(fig, out)


def plot_task_cosine(src: str | Path | Records, out: str | Path, checkpoint: str | None = None) -> Path:
    """Heatmap of the task × task mean-gradient cosine at ``checkpoint`` (default: the last one)."""
    recs = read_records(src)
    rec = recs[-1] if checkpoint is None else next(r for r in recs if r.get("checkpoint") == checkpoint)
    tasks = rec["task_cosine"]["tasks"]
    mat = np.array([[np.nan if v is None else v for v in row] for row in rec["task_cosine"]["matrix"]], float)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    im = ax.imshow(mat, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
    fig.colorbar(im, ax=ax, label="cosine of mean gradients")
    ax.set_title(f"task gradient cosine @ {rec.get('checkpoint')}")
    return _save(fig, out)


def _save(fig: Any, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
