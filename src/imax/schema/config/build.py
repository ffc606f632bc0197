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

Mode = Literal["imax", "dmax", "both"]
Split = Literal["auto", "official", "hash"]
Recipe = Literal["none", "paper"]


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
    volumes spread over images carrying as few tasks as possible; both: IMAX in OUT/imax and DMAX in
    OUT/dmax from one read of the sources, as ``imax experiment`` builds them."""
    split: Split = "auto"
    """Patient split. official: MIMIC-CXR's split file (mimic-cxr-2.0.0-split.csv.gz): its test patients are
    imax's test patients, validate -> val, train -> train (a patient in several official splits: test wins,
    then validate; patients without a split row are hashed into train/val, never test). hash: the seeded
    patient hash (val_fraction, test_fraction). auto: official when the split file has test rows, else hash.
    stats.json records which was used and the counts."""
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
    """Fraction of patients (by seeded hash of subject_id) in the val split (hash split; official split:
    the share of patients without an official split row that go to val)."""
    test_fraction: float = 0.10
    """Fraction of patients (by seeded hash of subject_id) in the test split, shared by IMAX and DMAX (hash
    split only)."""
    seed: int = 0
    """Seed of the patient split, the DMAX draw, the caps and the paraphrase choice."""
    paraphrase_seed: int | None = None
    """Seed of the instruction paraphrase choice per entry (None: use ``seed``)."""
    max_entries_per_task: int | Literal["auto"] | None = "auto"
    """Cap on train entries per task: IMAX keeps eligible images in seeded order, with all their
    annotations, until the first task reaches the cap (val: cap * the split's val : train ratio, stats.json
    split.val_cap_ratio: val_fraction / train_fraction for the hash split, the realised patient ratio for
    the official one). DMAX matches the capped volumes. The test set is never capped by this (see
    max_test_images). auto: the
    largest cap for which DMAX can match IMAX's volumes under dmax_tasks_per_image (none when uncapped
    works; what imax experiment uses, recorded in stats.json; an IMAX-only build whose DMAX could not be
    matched at any cap is built uncapped, with a note); none: uncapped."""
    recipe: Recipe = "none"
    """paper: fit max_images, max_images_per_task and max_entries_per_image_task so the IMAX statistics
    come near the study's (~354K entries, ~47.5K images, 4.10 tasks and 7.46 entries per image); stats.json
    shows them side by side with the study's. none: use the caps as given."""
    max_images: int | None = None
    """IMAX train + val: keep only the first N image-centric images in seeded order (both modes: DMAX then
    matches the volumes). None: all."""
    max_images_per_task: int | None = None
    """IMAX train + val: each task on at most this many images; a task over it leaves first the images
    carrying the most tasks (then seeded order), images falling below min_tasks are dropped. None: no cap."""
    max_entries_per_image_task: int | None = None
    """Every split and both modes: at most this many entries per (image, task), chosen in a seeded order
    (e.g. 2 of an image's 3 REC regions). None: all."""
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
