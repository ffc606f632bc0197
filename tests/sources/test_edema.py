"""Edema severity: consensus > expert > regex per image; superseded and duplicate rows accounted."""

from __future__ import annotations

from ._util import A, C, D, E, quarantine_of, rows_of


def test_priority(mini_tables) -> None:  # type: ignore[no-untyped-def]
    got = {
        r["dicom_id"]: (r["answer"]["grade"], r["meta"]["labeler"], r["meta"]["level"])
        for r in rows_of(mini_tables, "edema")
    }
    assert got == {
        D: (2, "consensus", "image"),  # expert's study row also covers D: consensus wins
        E: (1, "expert", "study"),  # ... and is used for the study's other frontal image
        C: (3, "expert", "study"),  # regex grade 2 for this study is superseded
        A: (0, "regex", "study"),
    }
    r = rows_of(mini_tables, "edema")[0]
    assert r["task"] == "multiclass" and r["query"] == {"label_space": "edema_severity"}


def test_quarantine(mini_tables) -> None:  # type: ignore[no-untyped-def]
    assert quarantine_of(mini_tables, "consensus_image") == {
        3: ("edema_severity", "grade not an integer 0-3")
    }
    q = quarantine_of(mini_tables, "regex_report")
    assert q[2] == ("study_id", "superseded by the expert label for every image of the study")
    assert q[4][1].startswith("duplicate study_id") and q[5][0] == "edema_severity"
