"""The adapters' shared machinery under its historical name: re-exports only, nothing is defined here.

Builders, benchmarks and tests import result types from here. New code imports from the module that
owns the name:

* :mod:`imax.sources.tables` — result types (:class:`SourceTables`, :class:`InputFile`,
  :class:`NotFound`), frame schemas, empty tables;
* :mod:`imax.sources.checks` — id expressions and row validation (:class:`Check`, :func:`split_checks`);
* :mod:`imax.sources.files` — file bytes, one-pass scans, CSV parsing and streaming;
* :mod:`imax.sources.context` — :class:`Adapter` and :class:`Context` (quarantine, accounting, joins).
"""

from __future__ import annotations

from imax.sources.checks import (
    DICOM_RE,
    STUDY_RE,
    SUBJECT_RE,
    Check,
    bad_dicom,
    bad_id,
    dedupe_check,
    frontal_expr,
    id_int,
    json_obj,
    names_where,
    norm_int_id,
    safe_rel_path,
    split_checks,
)
from imax.sources.context import Adapter, Context
from imax.sources.files import EMPTY_FILE, FileScan, RawFile, load_bytes, scan_file
from imax.sources.tables import (
    ANNOTATION_SCHEMA,
    IMAGE_SCHEMA,
    NEAR_SHOWN,
    QUARANTINE_SCHEMA,
    VALUE_MAX_CHARS,
    InputFile,
    NotFound,
    SourceTables,
    empty_annotations,
    empty_images,
    empty_quarantine,
)

__all__ = [
    "ANNOTATION_SCHEMA",
    "DICOM_RE",
    "EMPTY_FILE",
    "IMAGE_SCHEMA",
    "NEAR_SHOWN",
    "QUARANTINE_SCHEMA",
    "STUDY_RE",
    "SUBJECT_RE",
    "VALUE_MAX_CHARS",
    "Adapter",
    "Check",
    "Context",
    "FileScan",
    "InputFile",
    "NotFound",
    "RawFile",
    "SourceTables",
    "bad_dicom",
    "bad_id",
    "dedupe_check",
    "empty_annotations",
    "empty_images",
    "empty_quarantine",
    "frontal_expr",
    "id_int",
    "json_obj",
    "load_bytes",
    "names_where",
    "norm_int_id",
    "safe_rel_path",
    "scan_file",
    "split_checks",
]
