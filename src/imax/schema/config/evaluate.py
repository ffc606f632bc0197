"""Config of ``imax evaluate``: which checkpoint on which split, and how to score it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class EvalConfig:
    """Evaluate a checkpoint on a built dataset split (generation, parsing, metrics, bootstrap CIs)."""

    model: Path = Path("runs/model")
    """Checkpoint written by imax train (LoRA: adapter/ + base.json; full fine-tune: model/), a merged
    export, a base model directory, or a hub id (org/name)."""
    base: Path | None = None
    """Base model directory for a LoRA checkpoint (default: the one named in its base.json)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """dtype the weights load in (auto: the checkpoint's own on a GPU, float32 on the CPU)."""
    data: Path = Path("data/imax")
    """Built dataset directory (entries.parquet + manifest.json)."""
    out: Path = Path("runs/eval")
    """Output directory for predictions.jsonl, metrics.json and metrics.md."""
    split: str = "test"
    """Dataset split to evaluate (train | val | test)."""
    tasks: tuple[str, ...] = ()
    """Evaluate only these tasks (empty: every task present in the split)."""
    batch_size: int = 32
    """Prompts per generate() call (batches never mix tasks)."""
    vision_cache_gb: float = 2.0
    """Encode each test image once for all its prompts when the features fit in this many GB (0: run
    the vision tower in every batch)."""
    max_samples: int | None = None
    """Cap on entries per task, taken in a seeded shuffle (None: all)."""
    seed: int = 0
    """Seed for sub-sampling and the bootstrap."""
    bootstrap: int = 1000
    """Bootstrap resamples of test images for the 95 percent CIs (0: no CIs)."""
    meteor: bool = True
    """Compute METEOR (needs java; reported as unavailable when java is missing)."""
    trivial_baselines: bool = True
    """Score each task's trivial baseline (fitted on the train split of baseline_data) on the same
    prompts, with paired-bootstrap CIs of model − baseline (metrics.json trivial_baseline)."""
    baseline_data: Path | None = None
    """Built dataset whose train split fits the trivial baselines: the model's own training data
    (None: data)."""
    shuffled_image: bool = True
    """Generate again with every prompt shown another test image (a seeded derangement) and score it
    (metrics.json shuffled_image): how much the model uses the image. Doubles generation time."""
    shuffle_seed: int = 0
    """Seed of the image derangement of the shuffled-image score."""
    label_scores: bool = False
    """Also score every candidate label's log-likelihood for multilabel mAP / AUROC (slow)."""
    chexbert_path: Path | None = None
    """Local CheXbert weights for the CheXbert-F1 plug-in (None: reported as unavailable)."""
    radgraph_path: Path | None = None
    """Local RadGraph weights for the RadGraph-F1 plug-in (None: reported as unavailable)."""
    image_size: int = 0
    """Image side in pixels fed to the vision tower (0: the checkpoint's processor; any other value must
    equal it — the check that a run evaluates at the resolution it was trained at)."""
    max_length: int = 0
    """Longest prompt in tokens (longer prompts are an error, never truncated silently; 0: no limit)."""
