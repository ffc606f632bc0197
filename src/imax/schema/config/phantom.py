"""Config of the synthetic chest X-ray phantom (``imax phantom``). Defaults mirror the real sources."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class PhantomConfig:
    """Knobs of :func:`imax.phantom.generate`; every field is also a ``imax phantom`` option."""

    out: Path = Path("phantom")
    """Output folder; receives a MIMIC-CXR-JPG-like tree plus every annotation source and truth.parquet."""
    patients: int = 200
    """Number of synthetic patients (each has 1-4 studies, each study 1-2 images)."""
    seed: int = 0
    """Master seed; the same seed gives byte-identical files."""
    image_size: int = 512
    """Side of the square images in pixels (a multiple of 32, at least 64)."""
    workers: int = 2
    """Rendering processes (1 renders in this process); the output does not depend on it."""
    max_studies: int = 4
    """Most studies per patient (the count is drawn from 1..max_studies, fewer more likely)."""
    ap_fraction: float = 0.55
    """Fraction of studies whose frontal image is a portable AP (the rest are PA); MIMIC has about 60 percent AP."""
    lateral_fraction_pa: float = 0.9
    """Fraction of PA studies that also have a lateral image ("PA and lateral" exams)."""
    lateral_fraction_ap: float = 0.3
    """Fraction of AP studies that also have a lateral image."""
    ll_fraction: float = 0.3
    """Fraction of lateral images whose ViewPosition is "LL" instead of "LATERAL" (MIMIC: 35k LL vs 83k)."""
    validate_fraction: float = 0.05
    """Fraction of patients in the official "validate" split (MIMIC: 500 of 65k, 0.8%; a phantom of a few
    hundred patients needs a larger share for a usable val split)."""
    test_fraction: float = 0.10
    """Fraction of patients in the official "test" split (MIMIC: 293 of 65k, 0.45%). imax builds use the
    official split by default, so this is the phantom study's test set: 10%, imax's hash-split share."""
    label_noise: float = 0.03
    """Probability that the report labeller corrupts one mention (flip, drop or invent), per study label."""
    no_findings_fraction: float = 0.2
    """Fraction of reports with an IMPRESSION but no FINDINGS section."""
    addendum_fraction: float = 0.03
    """Fraction of reports with an addendum above the final report."""
    ctr_views: tuple[str, ...] = ("PA",)
    """ViewPositions that receive CTR/CPAR rows (cxr-cardiomegaly covers every PA image only)."""
    ctr_failure_fraction: float = 0.01
    """Fraction of CTR/CPAR rows carrying a failure code (2 heart, 3 lungs, 4 neither detected)."""
    chexmask_fraction: float = 1.0
    """Fraction of frontal images with a CheXmask row (CheXmask covers frontal images only)."""
    chexmask_bad_fraction: float = 0.05
    """Fraction of CheXmask rows with a degraded mask and Dice RCA (Mean) below the 0.7 quality cut."""
    edema_cohort_fraction: float = 0.05
    """Fraction of patients in the heart-failure sub-cohort that the edema-severity files cover."""
    edema_regex_fraction: float = 0.42
    """Fraction of cohort studies with a regex_report_edema_severity row (6,710 of 16,108 reports)."""
    edema_expert_fraction: float = 0.03
    """Fraction of cohort studies with an expert_report_edema_severity row (485 of 16,108; at least one)."""
    edema_consensus_fraction: float = 0.008
    """Fraction of cohort frontal images with a consensus_image_edema_severity row (141 of 17,857; >= 1)."""
    cxrlt_development_fraction: float = 0.104
    """Fraction of patients in CXR-LT 2023 development.csv (the rest: test.csv, then train.csv)."""
    cxrlt_test_fraction: float = 0.209
    """Fraction of patients in CXR-LT 2023 test.csv."""
    vqa_image_fraction: float = 0.4
    """Fraction of frontal images that receive MIMIC-CXR-VQA questions."""
    vqa_questions_per_image: int = 4
    """Questions per VQA image (drawn from the template families without repetition)."""
    id_block: Literal["study", "pretrain"] = "study"
    """Identifier block: "study" phantoms draw subject ids from 10000000-18999999 (study ids 50-58M),
    "pretrain" (the tiny base's pretraining pool) from 19000000-19999999 (59M), so the two never share a
    patient, a study or an image whatever their seeds."""
    preview: Path | None = None
    """Write a 16-image contact sheet (PNG) with masks, boxes and finding labels to this path."""


STUDY_COVERAGE: dict[str, float] = {"edema_cohort_fraction": 0.6, "edema_regex_fraction": 0.8}
"""Phantom coverage overrides used by the study's phantoms (the experiment and the pretraining pool).

The defaults above mirror the real sources (edema on a 5% heart-failure cohort); at a few hundred
patients that leaves the edema task a handful of images, too few to learn or to score. The study widens
the cohort, identically for every arm."""
