"""Plots of the study, drawn by matplotlib from the results dict only (never from live models).

Figures are made with ``matplotlib.figure.Figure`` (Agg, no pyplot state), so building a report in a
worker thread or a headless CI job cannot pick up a GUI backend. Each function returns ``None`` when
the results lack what it needs; :func:`save_plots` writes the rest as PNGs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from imax.report import numbers as nb
from imax.report.assets import run_colour, run_label
from imax.schema.records import TASK_NAMES

DPI = 110


def _style(ax: Any) -> None:
    ax.grid(True, color="#e5e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def radar(results: Mapping[str, Any]) -> Figure | None:
    """Per-task primary scores, each axis as a fraction of the best run on that task (1 = best).

    Lower-is-better metrics use best ÷ score, so on every axis further out is better. The radial axis
    starts just below the smallest value shown, so differences of a few percent stay visible.
    """
    runs, tasks = nb.runs(results), nb.tasks(results)
    rows: dict[str, list[float]] = {r: [] for r in runs}
    axes_tasks = []
    for task in tasks:
        _, hib = nb.primary(results, task)
        vals = {r: nb.score(results, r, task) for r in runs}
        present = [v for v in vals.values() if v is not None]
        if not present:
            continue
        best = max(present) if hib else min(present)
        axes_tasks.append(task)
        for r in runs:
            v = vals[r]
            if v is None:
                ratio = math.nan
            elif hib:
                ratio = v / best if best > 0 else (1.0 if v == best else 0.0)
            else:
                ratio = best / v if v > 0 else 1.0
            rows[r].append(ratio)
    if len(axes_tasks) < 3:  # a radar needs at least a triangle
        return None
    angles = [2 * math.pi * i / len(axes_tasks) for i in range(len(axes_tasks))]
    finite = [v for vs in rows.values() for v in vs if math.isfinite(v)]
    r0 = max(0.0, math.floor((min(finite) - 0.05) * 20) / 20)
    fig = Figure(figsize=(6.0, 5.8), dpi=DPI)
    ax = fig.add_subplot(projection="polar")
    ax.set_theta_offset(math.pi / 2)
    ax.set_theta_direction(-1)
    for i, r in enumerate(runs):
        vals = [v if math.isfinite(v) else r0 for v in rows[r]]
        if not any(math.isfinite(v) for v in rows[r]):
            continue
        ax.plot(angles + angles[:1], vals + vals[:1], color=run_colour(r, i), linewidth=2, label=run_label(r))
        ax.fill(angles + angles[:1], vals + vals[:1], color=run_colour(r, i), alpha=0.08)
    labels = []
    for t in axes_tasks:
        name, hib = nb.primary(results, t)
        labels.append(f"{t}\n{name} {'↑' if hib else '↓'}")
    ax.set_xticks(angles)
    ax.set_xticklabels(labels, fontsize=8.5)
    ax.set_ylim(r0, 1.0)
    ax.tick_params(axis="y", labelsize=7, colors="#6b7280")
    ax.tick_params(axis="x", pad=10)
    ax.set_rlabel_position(180 / len(axes_tasks))  # radial tick labels between the first two axes
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(runs), fontsize=8.5, frameon=False)
    fig.tight_layout()
    return fig


def _fisher_points(results: Mapping[str, Any], run: str) -> list[Mapping[str, Any]]:
    pts = nb.get(results, "runs", run, "fisher")
    return [p for p in pts if isinstance(p, Mapping)] if isinstance(pts, list) else []


def fisher_curves(results: Mapping[str, Any]) -> Figure | None:
    """SE and ρ over training (one line per run) and the late-checkpoint eigenvalue spectra."""
    runs = [r for r in nb.runs(results) if _fisher_points(results, r)]
    if not runs:
        return None
    has_eig = any(isinstance(p.get("eigenvalues"), list) and p["eigenvalues"]
                  for r in runs for p in _fisher_points(results, r))
    fig = Figure(figsize=(12.0 if has_eig else 8.5, 3.6), dpi=DPI)
    axes = fig.subplots(1, 3 if has_eig else 2)
    use_fraction = all(nb.num(p.get("fraction")) is not None for r in runs for p in _fisher_points(results, r))
    for i, r in enumerate(runs):
        pts = _fisher_points(results, r)
        xs = [nb.num(p.get("fraction" if use_fraction else "step")) for p in pts]
        for ax, key in zip(axes[:2], ("se", "rho"), strict=False):
            xy = [(x, nb.num(p.get(key))) for x, p in zip(xs, pts, strict=True)]
            xy = [(x, y) for x, y in xy if x is not None and y is not None]
            if xy:
                ax.plot(*zip(*xy, strict=True), marker="o", color=run_colour(r, i), linewidth=2, label=run_label(r))
        if has_eig:
            last = next((p for p in reversed(pts) if isinstance(p.get("eigenvalues"), list) and p["eigenvalues"]), None)
            if last is not None:
                eig = sorted((v for v in (nb.num(e) for e in last["eigenvalues"]) if v is not None and v > 0),
                             reverse=True)
                total = sum(eig)
                if total > 0:
                    axes[2].plot(range(1, len(eig) + 1), [e / total for e in eig], color=run_colour(r, i),
                                 linewidth=2, label=f"{run_label(r)} ({last.get('checkpoint', '?')})")
    xlabel = "fraction of training" if use_fraction else "step"
    axes[0].set_title("Spectral entropy SE (lower = more concentrated)", fontsize=10)
    axes[1].set_title("Dominant-eigenvalue ratio ρ (higher = more concentrated)", fontsize=10)
    for ax in axes[:2]:
        ax.set_xlabel(xlabel, fontsize=9)
        _style(ax)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=8.5, frameon=False)
    if has_eig:
        axes[2].set_title("Normalised eigenvalues, last checkpoint", fontsize=10)
        axes[2].set_yscale("log")
        axes[2].set_xlabel("rank", fontsize=9)
        axes[2].legend(fontsize=8, frameon=False)
        _style(axes[2])
        axes[2].tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def loss_curves(results: Mapping[str, Any]) -> Figure | None:
    """Training loss over steps: total, then one small panel per task (one line per run)."""
    curves: dict[str, list[Mapping[str, Any]]] = {}
    for r in nb.runs(results):
        pts = nb.get(results, "runs", r, "loss_curve")
        pts = [p for p in pts if isinstance(p, Mapping)] if isinstance(pts, list) else []
        if pts:
            curves[r] = pts
    if not curves:
        return None
    seen = {t for pts in curves.values() for p in pts if isinstance(p.get("per_task"), Mapping) for t in p["per_task"]}
    tasks = [t for t in TASK_NAMES if t in seen] + sorted(seen - set(TASK_NAMES))
    panels = ["total", *tasks]
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(3.0 * ncols, 2.5 * nrows), dpi=DPI)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    all_runs = nb.runs(results)
    for k, panel in enumerate(panels):
        ax = axes[k]
        for r, pts in curves.items():
            xy = []
            for p in pts:
                x = nb.num(p.get("step"))
                y = nb.num(p.get("loss")) if panel == "total" else nb.num(nb.get(p, "per_task", panel))
                if x is not None and y is not None:
                    xy.append((x, y))
            if xy:
                ax.plot(*zip(*xy, strict=True), color=run_colour(r, all_runs.index(r)), linewidth=1.4,
                        label=run_label(r))
        ax.set_title("total loss" if panel == "total" else panel, fontsize=10)
        ax.tick_params(labelsize=7.5)
        _style(ax)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8, frameon=False)
    axes[0].set_xlabel("step", fontsize=8.5)
    fig.tight_layout()
    return fig


PLOTS = {"radar": radar, "fisher": fisher_curves, "loss": loss_curves}
"""Literal registry: plot name -> builder. The PNG is saved as ``plots/<name>.png``."""


def save_plots(results: Mapping[str, Any], plot_dir: Path) -> dict[str, Path]:
    """Draw every plot the results allow and save it as ``plot_dir/<name>.png``."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, build in PLOTS.items():
        fig = build(results)
        if fig is None:
            continue
        path = plot_dir / f"{name}.png"
        # No "Software" tag: keeps the PNG bytes free of URLs and stable across matplotlib builds.
        fig.savefig(path, format="png", metadata={"Software": None}, facecolor="white")
        out[name] = path
    return out
