"""CXR-LT 2023 (26 classes) and 2024 (s-prefixed study_id, fpath, Normal -> No Finding)."""

from __future__ import annotations

from ._util import A, B, E, G, H, quarantine_of, rows_of


def test_labels(mini_tables) -> None:  # type: ignore[no-untyped-def]
    rows = {r["dicom_id"]: r for r in rows_of(mini_tables, "cxrlt")}
    assert {k: v["answer"]["labels"] for k, v in rows.items()} == {
        A: ["Cardiomegaly", "Support Devices"],
        B: ["No Finding"],  # CXR-LT is not frontal-only: laterals are kept
        E: [],
        G: ["No Finding"],  # 2024 "Normal"
        H: ["Mass", "Nodule"],
    }
    assert rows[G]["meta"] == {
        "file": "cxr-lt/cxr-lt-2024/train_labeled.csv",
        "line": 2,
        "release": "2024",
        "dropped": ["Adenopathy"],
    }
    assert rows[A]["meta"]["release"] == "2023" and rows[A]["query"] == {"label_space": "cxrlt26"}


def test_quarantine(mini_tables) -> None:  # type: ignore[no-untyped-def]
    assert quarantine_of(mini_tables, "cxr-lt-2023/train.csv") == {
        4: ("path", "path escapes the data root (absolute or '..')")
    }
    assert quarantine_of(mini_tables, "development.csv") == {2: ("Edema", "label not 0/1")}
    q = quarantine_of(mini_tables, "train_labeled.csv")
    assert q[4] == ("dicom_id", "duplicate dicom_id: first at cxr-lt/cxr-lt-2023/train.csv:2")
    assert q[5] == ("study_id", "study_id is not an 8-digit id starting with 5 (release 2024)")  # no s prefix
    test = next(i for i in mini_tables.inputs if i.path.endswith("cxr-lt-2023/test.csv"))
    assert test.rows_read == 0  # header only
