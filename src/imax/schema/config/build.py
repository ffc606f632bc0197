"""Config of ``imax build``: canonical source tables → IMAX or DMAX instruction dataset.

IMAX and DMAX built with the same ``seed``, split fractions, ``min_tasks`` and caps share one test set
(byte for byte) and have equal per-task entry volumes in train and val; they differ only in how the
annotations spread over images (see :mod:`imax.builders.select`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from imax.schema.config.sources import SourcesConfig

Mode = Literal["imax", "dmax"]


@dataclass
class BuildConfig:
    """One dataset build."""

    sources: Path = Path("data/sources")
    """Folder holding the native source files (read with ``imax.sources.read_sources``)."""
    sources_cfg: SourcesConfig = field(default_factory=SourcesConfig)
    """How the sources are read (options --sources-cfg.*)."""
    out: Path = Path("data/imax")
    """Output directory of the built dataset (entries.parquet, stats.json, manifest.json, exports)."""
    mode: Mode = "imax"
    """imax: image-centric (images with >= min_tasks tasks, all their annotations); dmax: the same per-task
    volumes spread over images carrying as few tasks as possible."""
    min_tasks: int = 3
    """An image is image-centric (IMAX train/val, and the shared test set) when it has annotations of at
    least this many distinct tasks."""
    dmax_tasks_per_image: int = 1
    """DMAX: most tasks any one image may carry. A task whose volume cannot be met under this cap fails
    the build with the numbers (raise it to allow reuse of images across tasks)."""
    dmax_target_overlap: float | None = None
    """DMAX: approximate target mean tasks per image (needs dmax_tasks_per_image >= its ceiling);
    None: as few as possible. The achieved value is in stats.json."""
    val_fraction: float = 0.05
    """Fraction of patients (by seeded hash of subject_id) in the val split."""
    test_fraction: float = 0.10
    """Fraction of patients (by seeded hash of subject_id) in the test split, shared by IMAX and DMAX."""
    seed: int = 0
    """Seed of the patient split, the DMAX draw, the caps and the paraphrase choice."""
    paraphrase_seed: int | None = None
    """Seed of the instruction paraphrase choice per entry (None: use ``seed``)."""
    max_entries_per_task: int | None = None
    """Cap on train entries per task: IMAX keeps eligible images in seeded order, with all their
    annotations, until the first task reaches the cap (val: cap * val_fraction / train_fraction). DMAX
    matches the capped volumes. The test set is never capped by this (see max_test_images)."""
    max_test_images: int | None = None
    """Cap on test images (the seeded-hash first N image-centric test images; same for both modes)."""
    strict: bool = False
    """Raise InputError on the first orphan annotation (no image row) instead of quarantining it; also
    turns on the reader's strict mode."""
    export_llava: bool = True
    """Write llava/{train,val,test}.json (LLaVA's JSON arrays; images relative to data_root, the
    --image_folder) and llava/train.yaml (LLaVA-NeXT's data list)."""
    export_hf: bool = True
    """Write hf/{train,val,test}.parquet (datasets.load_dataset("parquet", ...) with an Image column) and
    the dataset card hf/README.md."""
    hf_embed_images: bool = False
    """HF export: store the image bytes in the parquet files (self-contained; as large as the images times
    their entries) instead of absolute image paths."""
