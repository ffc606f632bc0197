"""CheXmask: boxes from RLE (worked example, wrapping run), both lungs, RCA filter, bad RLE, columns by name."""

from __future__ import annotations

from pathlib import Path

from imax.schema.config.sources import SourcesConfig
from imax.sources import read_sources

from ._util import A, E, quarantine_of, rows_of


def _boxes(tables) -> dict[tuple[str, str], list[int]]:  # type: ignore[no-untyped-def]
    return {
        (r["dicom_id"], r["query"]["phrase"]): r["answer"]["box"]
        for r in rows_of(tables, "chexmask")
        if r["task"] == "rec"
    }


def test_boxes(mini_tables) -> None:  # type: ignore[no-untyped-def]
    assert _boxes(mini_tables) == {
        (A, "heart"): [1, 1, 4, 3],  # "7 3 13 2" on 4x5
        (A, "left lung"): [3, 0, 5, 1],
        (A, "both lungs"): [3, 0, 5, 1],  # right lung mask empty: no right-lung annotation
        (E, "heart"): [0, 0, 4, 2],  # "3 4" on 3x4 wraps into the next row
        (E, "left lung"): [0, 0, 1, 1],
        (E, "right lung"): [3, 2, 4, 3],
        (E, "both lungs"): [0, 0, 4, 3],
    }
    rows = rows_of(mini_tables, "chexmask")
    reg = next(
        r for r in rows if r["task"] == "reg" and r["dicom_id"] == A and r["answer"]["phrase"] == "heart"
    )
    assert reg["query"] == {"box": [1, 1, 4, 3], "size": [5, 4]}
    rec = next(r for r in rows if r["task"] == "rec" and r["dicom_id"] == E)
    assert rec["answer"]["size"] == [4, 3]
    assert rec["meta"] == {
        "file": "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv",
        "line": 4,
        "rca_mean": 0.81,
        "rca_max": 0.86,
        "canvas_is_image": False,
    }
    assert next(r for r in rows if r["dicom_id"] == A)["meta"]["canvas_is_image"] is True


def test_quarantine(mini_tables) -> None:  # type: ignore[no-untyped-def]
    # Line numbers count the newline inside row 1's quoted Landmarks cell.
    assert quarantine_of(mini_tables, "MIMIC-CXR-JPG.csv") == {
        5: ("Dice RCA (Mean)", "quality filter: Dice RCA (Mean) below rca_min=0.7"),
        6: ("Heart", "malformed RLE text (expected 'start length' integer pairs)"),
        7: ("dicom_id", "non-frontal view (source is frontal-only)"),
        8: ("*", "all masks empty (no region to box)"),
        9: ("Left Lung", "RLE run outside the Height x Width mask or runs not increasing"),
    }


def test_rca_min_and_column_order(fresh_root: Path) -> None:
    path = fresh_root / "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv"
    lines = path.read_text().splitlines()
    # Reorder columns (as Padchest's CSV does) and drop the optional Max column: selection is by name.
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(lines) + "\n")))
    order = ["Heart", "Width", "dicom_id", "Height", "Right Lung", "Left Lung", "Dice RCA (Mean)"]
    idx = [rows[0].index(c) for c in order]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[r[i] for i in idx] for r in rows])
    path.write_text(out.getvalue())
    t = read_sources(fresh_root, SourcesConfig(only=("chexmask",), rca_min=0.4))
    boxes = _boxes(t)
    assert boxes[(A, "heart")] == [1, 1, 4, 3]
    assert 2 not in [
        line for line, (f, _) in quarantine_of(t, "MIMIC-CXR-JPG").items() if f == "Dice RCA (Mean)"
    ]
    assert all(r["meta"]["rca_max"] is None for r in rows_of(t, "chexmask"))


def _tables_equal(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.annotations.equals(b.annotations)
    assert a.quarantine.equals(b.quarantine)
    assert [vars(i) for i in a.inputs] == [vars(i) for i in b.inputs]


def test_streamed_read_equals_one_piece(fresh_root: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Batches (here of 2 rows) give exactly what one parse of the whole file gives."""
    from imax.sources import context, files

    path = fresh_root / "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv"
    text = path.read_text().replace('"[[1 2]\n [3 4]]"', '"1,2"')  # no quoted newline: the file streams
    path.write_text(text + text.splitlines()[2] + "\n")  # and a duplicate row (a whole-file check)
    cfg = SourcesConfig(only=("chexmask",))
    monkeypatch.setattr(files, "_BATCH_ROWS", 2)
    streamed = read_sources(fresh_root, cfg)
    calls = []
    monkeypatch.setattr(context.Context, "_stream_csv", lambda *a, **k: calls.append(1))  # always declines
    whole = read_sources(fresh_root, cfg)
    assert calls, "the one-piece path was not taken"
    _tables_equal(streamed, whole)
    assert "duplicate dicom_id" in " ".join(quarantine_of(streamed, "MIMIC-CXR-JPG.csv")[9])


def test_header_only_file(fresh_root: Path) -> None:
    path = fresh_root / "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    t = read_sources(fresh_root, SourcesConfig(only=("chexmask",)))
    assert rows_of(t, "chexmask") == []
    (got,) = [i for i in t.inputs if i.source == "chexmask"]
    assert (got.rows_read, got.rows_used, got.rows_quarantined) == (0, 0, 0)
