"""read_sources end to end: payload contract, accounting, missing sources, broken files, strict mode."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from imax.schema.config.base import field_docs
from imax.schema.config.sources import SourcesConfig
from imax.schema.errors import InputError, MissingPathError
from imax.schema.records import ANNOTATION_COLUMNS, QUARANTINE_COLUMNS, TASK_NAMES
from imax.sources import SOURCES, read_sources
from imax.sources.base import EMPTY_FILE

from ._util import assert_accounted, clean_metadata, quarantine_of

KEYS = {  # records.py: the exact query / answer keys per task
    "calculation": ({"measure"}, {"value"}),
    "report": (set(), {"text"}),
    "multiclass": ({"label_space"}, {"grade"}),
    "multilabel": ({"label_space"}, {"labels"}),
    "rec": ({"phrase"}, {"box", "size"}),
    "reg": ({"box", "size"}, {"phrase"}),
    "vqa": ({"question", "content_type", "semantic_type"}, {"answers"}),
}


def test_contract(mini_tables) -> None:  # type: ignore[no-untyped-def]
    ann = mini_tables.annotations
    assert ann.columns == list(ANNOTATION_COLUMNS) and mini_tables.quarantine.columns == list(
        QUARANTINE_COLUMNS
    )
    assert set(ann["task"]) == set(TASK_NAMES) and set(ann["source"]) == set(SOURCES) - {"mimic_metadata"}
    assert set(ann["dicom_id"]) <= set(mini_tables.images["dicom_id"])
    for r in ann.iter_rows(named=True):
        q, a, m = json.loads(r["query"]), json.loads(r["answer"]), json.loads(r["meta"])
        assert (set(q), set(a)) == KEYS[r["task"]], r
        assert {"file", "line"} <= set(m)
        for key in ("labels", "answers"):
            if key in a:
                assert a[key] == sorted(a[key])
    assert mini_tables.missing == [] and mini_tables.data_root is not None


def test_every_row_accounted(mini_tables) -> None:  # type: ignore[no-untyped-def]
    assert_accounted(mini_tables)
    assert {i.source for i in mini_tables.inputs} == set(SOURCES)


def test_missing_sources_skipped(tmp_path: Path, mini_root: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(mini_root, root)
    shutil.rmtree(root / "chexmask")
    shutil.rmtree(root / "cxr-lt")
    t = read_sources(root, SourcesConfig())
    assert t.missing == ["cxrlt", "chexmask"]
    assert not {"cxrlt", "chexmask"} & set(t.annotations["source"])


def test_no_metadata(tmp_path: Path, mini_root: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(mini_root, root)
    for p in (root / "mimic-cxr-jpg" / "2.0.0").glob("*metadata*"):
        p.unlink()
    t = read_sources(root, SourcesConfig())
    assert t.images.height == 0 and t.annotations.height == 0
    star = t.quarantine.filter(pl.col("field") == "*")
    assert star.height >= 8 and "files" in set(star["file"])  # the report tree is one row
    assert "split.csv.gz" in " ".join(star["file"])


def test_broken_files(fresh_root: Path) -> None:
    (fresh_root / "cxr-cardiomegaly/CTRs.csv").write_text("dicom,ratio\nx,1\n")
    chexpert = fresh_root / "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz"
    chexpert.write_bytes(gzip.compress(b"subject_id,study_id\n")[:15])  # truncated gzip
    (fresh_root / "mimic-cxr-pe-severity/expert_report_edema_severity.csv").write_bytes(b"")
    t = read_sources(fresh_root, SourcesConfig())
    ctr = quarantine_of(t, "CTRs.csv")
    assert ctr == {
        1: ("*", "missing header column(s) ['dicom_file', 'CTR']"
            " (also accepted: 'dicom_id' for 'dicom_file')")
    }
    q = quarantine_of(t, "chexpert.csv.gz")
    assert list(q) == [None] and q[None][1].startswith("corrupt gzip")
    assert quarantine_of(t, "expert_report") == {None: ("*", EMPTY_FILE)}
    assert_accounted(t)


def test_duplicate_header_column(fresh_root: Path) -> None:
    """Two columns of one name: which holds the values is unknowable, so the file is refused (named)."""
    ctr = fresh_root / "cxr-cardiomegaly/CTRs.csv"
    lines = ctr.read_text().splitlines()
    ctr.write_text("\n".join(f"{line},{line.split(',')[-1]}" for line in lines) + "\n")
    t = read_sources(fresh_root, SourcesConfig(only=("cardiomegaly",)))
    assert quarantine_of(t, "CTRs.csv") == {1: ("*", "header column(s) ['CTR'] appear more than once")}
    assert_accounted(t)


def test_not_gzip(fresh_root: Path) -> None:
    (fresh_root / "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-chexpert.csv.gz").write_text("plain text")
    t = read_sources(fresh_root, SourcesConfig(only=("chexpert",)))
    assert quarantine_of(t, "chexpert.csv.gz")[None] == ("*", "not a gzip file (bad magic bytes)")


def test_strict_names_file_line_field(mini_root: Path) -> None:
    with pytest.raises(InputError) as err:
        read_sources(mini_root, SourcesConfig(strict=True))
    assert str(err.value) == (
        "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-metadata.csv.gz:10: field 'dicom_id': "
        "dicom_id is not a 44-char MIMIC image id"
    )
    assert (err.value.line, err.value.field) == (10, "dicom_id")


def test_strict_file_level(fresh_root: Path) -> None:
    clean_metadata(fresh_root)
    (fresh_root / "cxr-cardiomegaly/CPARs.csv").unlink()
    (fresh_root / "cxr-cardiomegaly/CTRs.csv").write_text("dicom,ratio\n")
    with pytest.raises(InputError, match=r"CTRs.csv:1: field '\*': missing header"):
        read_sources(fresh_root, SourcesConfig(only=("cardiomegaly",), strict=True, check_images=False))


def test_root_missing(tmp_path: Path) -> None:
    with pytest.raises(MissingPathError):
        read_sources(tmp_path / "nope", SourcesConfig())


def test_config_fields_documented() -> None:
    docs = field_docs(SourcesConfig)
    assert set(docs) == set(SourcesConfig.__dataclass_fields__)


def test_background_source_gives_the_sequential_tables(mini_root: Path, mini_tables) -> None:  # type: ignore[no-untyped-def]
    """CheXmask read in a thread beside the others: the same tables, in the same order, as one by one."""
    import dataclasses

    assert SOURCES["chexmask"].background
    sequential = {n: dataclasses.replace(a, background=False) for n, a in SOURCES.items()}
    t = read_sources(mini_root, SourcesConfig(), sequential)
    assert t.annotations.equals(mini_tables.annotations)
    assert t.quarantine.equals(mini_tables.quarantine)
    assert t.images.equals(mini_tables.images)
    assert [vars(i) for i in t.inputs] == [vars(i) for i in mini_tables.inputs]
    assert t.missing == mini_tables.missing
