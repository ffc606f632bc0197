"""Source adapters: native chest X-ray annotation files → canonical IMAGES / ANNOTATIONS tables.

``SOURCES`` is a literal registry (no import-time registration), read in its order: ``mimic_metadata``
first because every other adapter joins the IMAGES table it builds, then ``vqa`` because polars' JSON
reader has the largest transient memory (~8x the file) and peaks lowest before other tables pile up.
``chexmask`` (most of the input bytes) is read in a thread beside the others from then on. Entry points::

    discover(root) -> dict[str, list[Path]]                 # official file names anywhere under root
    read_sources(root, cfg: SourcesConfig) -> SourceTables  # everything, with quarantine + accounting

Bad input never raises (except with ``cfg.strict``): rows go to ``SourceTables.quarantine``.
"""

from __future__ import annotations

from imax.sources import (
    cardiomegaly,
    chexmask,
    chexpert,
    cxrlt,
    edema,
    mimic_metadata,
    reports,
    vqa,
)
from imax.sources.context import Adapter
from imax.sources.discovery import discover, load_paths
from imax.sources.read import read_sources
from imax.sources.rle import decode_rle, encode_rle, rle_boxes
from imax.sources.sectioning import report_answer, section_text
from imax.sources.tables import InputFile, NotFound, SourceTables

SOURCES: dict[str, Adapter] = {
    "mimic_metadata": Adapter(
        "mimic_metadata",
        mimic_metadata.PATTERNS,
        mimic_metadata.read,
        needs_images=False,
        doc="MIMIC-CXR-JPG metadata + split -> IMAGES",
        globs=("**/mimic-cxr-2.?.?-metadata.csv[.gz]", "**/mimic-cxr-2.?.?-split.csv[.gz]"),
    ),
    "vqa": Adapter(
        "vqa",
        vqa.PATTERNS,
        vqa.read,
        doc="MIMIC-Ext-MIMIC-CXR-VQA -> vqa",
        globs=("**/*mimic-cxr-vqa*/**/{train,valid,test}.json[.gz]",),
    ),
    "chexpert": Adapter(
        "chexpert",
        chexpert.PATTERNS,
        chexpert.read,
        doc="CheXpert/NegBio labels -> multilabel",
        globs=("**/mimic-cxr-2.?.?-chexpert.csv[.gz]", "**/mimic-cxr-2.?.?-negbio.csv[.gz]"),
    ),
    "reports": Adapter(
        "reports",
        reports.PATTERNS,
        reports.read,
        doc="free-text reports -> report",
        globs=("**/mimic_cxr_sectioned.csv[.gz]", "**/files/p??/p????????/s????????.txt"),
    ),
    "cardiomegaly": Adapter(
        "cardiomegaly",
        cardiomegaly.PATTERNS,
        cardiomegaly.read,
        doc="CTR/CPAR -> calculation",
        globs=("**/CTRs.csv[.gz]", "**/CPARs.csv[.gz]"),
    ),
    "edema": Adapter(
        "edema",
        edema.PATTERNS,
        edema.read,
        doc="edema severity -> multiclass",
        globs=("**/{consensus_image,expert_report,regex_report}_edema_severity.csv[.gz]",),
    ),
    "cxrlt": Adapter(
        "cxrlt",
        cxrlt.PATTERNS,
        cxrlt.read,
        doc="CXR-LT 2023/2024 -> multilabel cxrlt26",
        globs=("**/cxr-lt-2023/{train,development,test}.csv[.gz]", "**/cxr-lt-2024/*_labeled*.csv[.gz]"),
    ),
    "chexmask": Adapter(
        "chexmask",
        chexmask.PATTERNS,
        chexmask.read,
        doc="CheXmask RLE masks -> rec + reg",
        background=True,
        globs=("**/MIMIC-CXR-JPG.csv[.gz]",),
    ),
}

read_all = read_sources
"""Alias named in docs/architecture.md."""

__all__ = [
    "SOURCES",
    "Adapter",
    "InputFile",
    "NotFound",
    "SourceTables",
    "decode_rle",
    "discover",
    "encode_rle",
    "load_paths",
    "read_all",
    "read_sources",
    "report_answer",
    "rle_boxes",
    "section_text",
]
