"""Reports: the txt tree (thread pool + sectioning) and MIT-LCP's sectioned CSV (fast path)."""

from __future__ import annotations

import shutil
from pathlib import Path

from imax.schema.config.sources import SourcesConfig
from imax.sources import read_sources

from ._util import FIXTURES, A, C, D, E, clean_metadata, quarantine_of, rows_of


def test_tree_route(mini_tables) -> None:  # type: ignore[no-untyped-def]
    rows = {r["dicom_id"]: r for r in rows_of(mini_tables, "reports")}
    assert set(rows) == {A, C, D, E}  # frontal images only; B is lateral
    assert rows[A]["query"] == {} and rows[A]["task"] == "report"
    assert rows[A]["answer"]["text"].startswith("There is no focal consolidation")
    assert (
        rows[C]["answer"]["text"]
        == "Small right pleural effusion is unchanged. Possible small right apical pneumothorax."
    )
    assert rows[D]["meta"] == {
        "file": "files/p10/p10000764/s57375967.txt",
        "line": None,
        "section": "impression",
        "route": "tree",
    }
    assert rows[D]["answer"] == rows[E]["answer"]
    q = mini_tables.quarantine.filter(mini_tables.quarantine["file"].str.ends_with(".txt"))
    assert dict(q.select("file", "reason").iter_rows()) == {
        "files/p10/p10001401/s51234567.txt": "no findings, impression or last paragraph text",
        "files/p10/p10000898/s50771383.txt": "study_id not in metadata",
    }
    tree = next(i for i in mini_tables.inputs if i.source == "reports")
    assert tree.path.endswith("/files") and (tree.rows_read, tree.rows_used, tree.rows_quarantined) == (
        5,
        3,
        2,
    )


def test_sectioned_route(fresh_root: Path) -> None:
    shutil.copy(FIXTURES / "sectioned" / "mimic_cxr_sectioned.csv", fresh_root / "mimic_cxr_sectioned.csv")
    t = read_sources(fresh_root, SourcesConfig(only=("reports",)))  # auto prefers the sectioned CSV
    rows = {r["dicom_id"]: r for r in rows_of(t, "reports")}
    assert rows[A]["answer"]["text"] == (
        "There is no focal consolidation, pleural effusion or pneumothorax. The cardiomediastinal silhouette is normal."
    )
    assert rows[A]["meta"] == {
        "file": "mimic_cxr_sectioned.csv",
        "line": 2,
        "section": "findings",
        "route": "sectioned",
    }
    assert rows[C]["meta"]["section"] == "impression" and rows[C]["meta"]["line"] == 4  # row 1 spans 2 lines
    assert (
        rows[D]["answer"]["text"] == "Lines and tubes as before."
        and rows[D]["meta"]["section"] == "last_paragraph"
    )
    q = quarantine_of(t, "mimic_cxr_sectioned.csv")
    assert q[6][0] == "study" and q[7] == ("findings", "no findings, impression or last paragraph text")
    inp = next(i for i in t.inputs if i.source == "reports")
    assert (inp.rows_read, inp.rows_used, inp.rows_quarantined) == (5, 3, 2)
    tree = read_sources(fresh_root, SourcesConfig(only=("reports",), report_route="tree"))
    assert {r["meta"]["route"] for r in rows_of(tree, "reports")} == {"tree"}


def test_unreadable_report_is_quarantined(fresh_root: Path) -> None:
    bad = fresh_root / "files/p10/p10000032/s53189527.txt"
    bad.write_bytes(b"\xff\xfe garbage without sections")
    t = read_sources(fresh_root, SourcesConfig(only=("reports",)))
    q = quarantine_of(t, "s53189527.txt")
    assert list(q.values()) == [("*", "no findings, impression or last paragraph text")]


def test_strict_names_the_report_file(fresh_root: Path) -> None:
    import pytest

    from imax.schema.errors import InputError

    clean_metadata(fresh_root)
    with pytest.raises(InputError) as err:
        read_sources(fresh_root, SourcesConfig(only=("reports",), strict=True, check_images=False))
    # With image checks off F is a known image, so the first bad report is the one without sections.
    assert str(err.value) == (
        "files/p10/p10001401/s51234567.txt: field '*': no findings, impression or last paragraph text"
    )
