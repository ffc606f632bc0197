"""Config of the three-stage pseudo-IMAX strategy (``imax pseudo``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from imax.schema.config.train import TrainConfig


@dataclass
class PseudoConfig:
    """Train on DMAX, pseudo-label each DMAX train image's missing tasks, train on the result."""

    data: Path = Path("data/dmax")
    """Built DMAX dataset directory (``imax build --mode dmax``)."""
    out: Path = Path("runs/pseudo")
    """Output: stage1/ (DMAX run), pseudo_data/ (the pseudo-IMAX dataset), stage3/ (final run), quality.json."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Training recipe for stages 1 and 3 (``data``/``out`` are set per stage)."""
    truth: Path | None = None
    """Held-out labels for the quality report: a sources folder (read like ``imax build --sources``) or an
    annotations parquet; None: no quality report."""
    stage1: Path | None = None
    """An existing DMAX run directory to reuse as stage 1 (skips training it again)."""
    stage3_init: Literal["base", "stage1"] = "base"
    """Stage 3 starts from the base model (default) or continues from the stage-1 adapter."""
    min_confidence: dict[str, float] = field(default_factory=dict)
    """Per-task threshold on the mean token log-likelihood of a generated answer (e.g. {"vqa": -0.3});
    tasks not listed use the ``keep_fraction`` quantile of their own confidences."""
    keep_fraction: float = 0.5
    """For tasks without an explicit threshold: keep this most-confident fraction of parseable answers (the
    threshold is the matching quantile, recorded in quality.json)."""
    max_images: int | None = None
    """Pseudo-label at most this many DMAX train images (None: all)."""
    vqa_questions: int = 3
    """Ask each image the N most frequent VQA questions of the DMAX train pool that it lacks (every task
    whose pseudo rule is ``ask_most_frequent``; the others are asked every distinct pool query)."""
    batch_size: int = 32
    """Generation batch size."""
    seed: int = 0
    """Seed of image sub-sampling and instruction paraphrase choice."""
