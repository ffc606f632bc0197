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
from imax.sources.base import Adapter, InputFile, SourceTables
from imax.sources.discovery import discover, load_paths
from imax.sources.read import read_sources
from imax.sources.rle import decode_rle, encode_rle, rle_boxes
from imax.sources.sectioning import report_answer, section_text

SOURCES: dict[str, Adapter] = {
    "mimic_metadata": Adapter(
        "mimic_metadata",
        mimic_metadata.PATTERNS,
        mimic_metadata.read,
        needs_images=False,
        doc="MIMIC-CXR-JPG metadata + split -> IMAGES",
    ),
    "vqa": Adapter("vqa", vqa.PATTERNS, vqa.read, doc="MIMIC-Ext-MIMIC-CXR-VQA -> vqa"),
    "chexpert": Adapter(
        "chexpert", chexpert.PATTERNS, chexpert.read, doc="CheXpert/NegBio labels -> multilabel"
    ),
    "reports": Adapter("reports", reports.PATTERNS, reports.read, doc="free-text reports -> report"),
    "cardiomegaly": Adapter(
        "cardiomegaly", cardiomegaly.PATTERNS, cardiomegaly.read, doc="CTR/CPAR -> calculation"
    ),
    "edema": Adapter("edema", edema.PATTERNS, edema.read, doc="edema severity -> multiclass"),
    "cxrlt": Adapter("cxrlt", cxrlt.PATTERNS, cxrlt.read, doc="CXR-LT 2023/2024 -> multilabel cxrlt26"),
    "chexmask": Adapter(
        "chexmask", chexmask.PATTERNS, chexmask.read, doc="CheXmask RLE masks -> rec + reg", background=True
    ),
}

read_all = read_sources
"""Alias named in docs/architecture.md."""

__all__ = [
    "SOURCES",
    "Adapter",
    "InputFile",
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
