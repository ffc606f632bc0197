"""Config of the Fisher-spectrum analysis (``imax fisher``, :mod:`imax.fisher`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class FisherConfig:
    """Empirical-Fisher spectra of a training run's named checkpoints on a fixed probe set."""

    run: Path | None = None
    """Training run directory (holds checkpoints/<name>/ with adapter/ or model/, config.yaml); LoRA and
    full fine-tune runs alike."""

    data: Path | None = None
    """Built dataset directory (imax build --out) the probe set is drawn from; use the same one for every
    run you compare."""

    out: Path | None = None
    """Where to write the spectra JSON (default: RUN/fisher.json)."""

    checkpoints: tuple[str, ...] = ("initial", "early", "mid", "late")
    """Named checkpoints to analyse, in training order; missing ones are an error."""

    split: Literal["train", "val"] = "val"
    """Split the probe set is drawn from (the test split is never allowed)."""

    n_probe: int = 256
    """Probe-set size N, stratified over tasks (the spectrum has at most N non-zero eigenvalues)."""

    seed: int = 0
    """Seed of the probe-set draw."""

    params: str | None = None
    """Regex over parameter names the Fisher is taken over (re.search); unset: the ones that trained
    (LoRA + projector; every trained parameter of a full fine-tune)."""

    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    """dtype the checkpoint loads in. float32 by default: per-sample gradients and their Gram matrix lose
    the small eigenvalues in 16-bit (auto: the checkpoint's own on a GPU, float32 on the CPU)."""

    k: int = 5
    """k of the top-k eigenvalue mass ratio."""

    method: Literal["auto", "vmap", "loop"] = "auto"
    """Per-sample gradient route: torch.func vmap, a per-sample loop, or vmap with automatic fallback."""

    chunk_size: int = 32
    """Samples per vmap call (bounds activation memory)."""

    batch_size: int = 32
    """Samples per collated probe batch."""

    max_jacobian_mb: float = 1024.0
    """Memory budget for the N × P gradient block; above it parameters are processed in groups (one more
    pass over the probe set each)."""

    plot: bool = True
    """Also write fisher_spectra.png, fisher_trajectory.png and fisher_task_cosine.png beside the JSON
    (several runs on one figure: :func:`imax.fisher.plots.plot_trajectory`)."""
