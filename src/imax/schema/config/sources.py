"""Config of reading the native sources (``imax.sources.read_sources``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

UncertaintyPolicy = Literal["ignore", "positive", "negative"]


@dataclass
class SourcesConfig:
    """How native source files are found, validated and turned into canonical tables."""

    only: tuple[str, ...] = ()
    """Read only these sources (names of imax.sources.SOURCES); empty: all. mimic_metadata is always read."""
    paths_file: Path | None = None
    """YAML mapping source name -> file path(s) or folder (relative to the data root); named sources skip
    discovery. None: use ROOT/sources.yaml when it exists, else discover everything by file name."""
    uncertainty_policy: UncertaintyPolicy = "ignore"
    """CheXpert -1.0 (uncertain) labels: ignore (not positive, listed in meta), positive, or negative."""
    chexpert_labeler: Literal["chexpert", "negbio"] = "chexpert"
    """Which MIMIC-CXR-JPG labeler file to read; the other one is used only when this one is absent."""
    report_route: Literal["auto", "sectioned", "tree"] = "auto"
    """Reports from mimic_cxr_sectioned.csv (fast), from the files/pXX/pSUBJECT/sSTUDY.txt tree, or auto
    (the sectioned CSV when present, else the tree)."""
    io_workers: int = 8
    """Threads for reading report files and checking image files (I/O bound)."""
    rca_min: float = 0.7
    """CheXmask quality filter: rows with Dice RCA (Mean) below this are quarantined (README: 0.7)."""
    chexmask_variant: Literal["auto", "OriginalResolution", "Preprocessed"] = "auto"
    """Which CheXmask MIMIC-CXR-JPG.csv to read when both folders exist (auto: OriginalResolution)."""
    frontal_only_sources: tuple[str, ...] = ("chexpert", "reports", "edema", "cardiomegaly", "chexmask")
    """Sources whose annotations go to frontal views only (study-level ones fan out to frontal images)."""
    check_images: bool = True
    """Quarantine metadata rows whose image file is missing or empty under the data root."""
    deep_image_check: bool = False
    """Also decode every image with PIL (slow) and quarantine unreadable ones."""
    strict: bool = False
    """Raise InputError(file, line, field, reason) on the first bad input row instead of quarantining it."""
