"""Property: whatever rows a source file holds, every row ends up used or quarantined — never a traceback."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imax.schema.config.sources import SourcesConfig
from imax.schema.records import CHEXPERT14, CXRLT26
from imax.sources import read_sources

from ._util import A, C, D, E, used_rows

IMAGES = [
    (A, "10000032", "50414267", "PA"),
    (C, "10000032", "53189527", "AP"),
    (D, "10000764", "57375967", "AP"),
    (E, "10000764", "57375967", "LATERAL"),
]
META_HEADER = ["dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns"]

junk = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=12
)
dicom = st.sampled_from([A, C, D, E, "12345678-12345678-12345678-12345678-12345678", "x"]) | junk
subject = st.sampled_from(["10000032", "10000764", "1000003", "abc", ""]) | junk
study = st.sampled_from(["50414267", "53189527", "57375967", "59999999", "s50414267", ""]) | junk
label = st.sampled_from(["1.0", "0.0", "-1.0", "", "1", "2", "nan"]) | junk
ratio = st.sampled_from(["0.5", "2", "3", "4", "2.5", "-1", "abc", ""]) | junk
rle = st.sampled_from(["7 3 13 2", "1 1", "", "3 4", "19 5", "7 3 x", "1 2 3", "5 2 3 1"]) | junk
size = st.sampled_from(["4", "5", "0", "x", ""])

chexpert_row = st.tuples(subject, study, *[label] * len(CHEXPERT14))
edema_row = st.tuples(subject, study, st.sampled_from(["0", "1", "3", "3.0", "4", "x", ""]) | junk)
lt24_row = st.tuples(dicom, subject, study, st.sampled_from(["1", "0", "2", ""]), st.sampled_from(["0", "1"]))
ctr_row = st.tuples(dicom, ratio)
chexmask_row = st.tuples(dicom, st.sampled_from(["0.9", "0.5", "x", ""]), rle, rle, rle, size, size)
vqa_item = st.one_of(
    st.integers(),
    st.fixed_dictionaries(
        {
            "image_id": dicom,
            "image_path": st.sampled_from(
                [
                    f"p10/p10000032/s50414267/{A}.jpg",
                    f"files/p10/p10000032/s53189527/{C}.jpg",
                    "../x.jpg",
                    "/abs.jpg",
                ]
            )
            | junk,
            "subject_id": subject | st.integers(),
            "study_id": study,
            "question": junk,
            "semantic_type": st.sampled_from(["verify", "query"]) | st.none(),
            "content_type": st.sampled_from(["presence"]) | st.integers(),
            "answer": st.lists(junk, max_size=3) | junk | st.none(),
        }
    ),
)


def _csv(path: Path, header: list[str], rows: list[tuple]) -> list[int]:
    """Write rows; return the 1-based file line each data row starts on."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    lines, line = [], 2
    for r in rows:
        before = out.tell()
        w.writerow(r)
        lines.append(line)
        line += out.getvalue()[before:].count("\n")
    path.write_text(out.getvalue())
    return lines


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chexpert_rows=st.lists(chexpert_row, max_size=6),
    ctr_rows=st.lists(ctr_row, max_size=6),
    chexmask_rows=st.lists(chexmask_row, max_size=6),
    vqa_items=st.lists(vqa_item, max_size=6),
    edema_rows=st.lists(edema_row, max_size=6),
    lt24_rows=st.lists(lt24_row, max_size=6),
)
def test_every_row_used_or_quarantined(  # type: ignore[no-untyped-def]
    chexpert_rows, ctr_rows, chexmask_rows, vqa_items, edema_rows, lt24_rows
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _csv(root / "mimic-cxr-2.0.0-metadata.csv", META_HEADER, [(*i, "4", "5") for i in IMAGES])
        expected = {
            "mimic-cxr-2.0.0-chexpert.csv": _csv(
                root / "mimic-cxr-2.0.0-chexpert.csv", ["subject_id", "study_id", *CHEXPERT14], chexpert_rows
            ),
            "CTRs.csv": _csv(root / "CTRs.csv", ["dicom_file", "CTR"], ctr_rows),
            "MIMIC-CXR-JPG.csv": _csv(
                root / "MIMIC-CXR-JPG.csv",
                ["dicom_id", "Dice RCA (Mean)", "Left Lung", "Right Lung", "Heart", "Height", "Width"],
                chexmask_rows,
            ),
        }
        expected["regex_report_edema_severity.csv"] = _csv(
            root / "regex_report_edema_severity.csv", ["subject_id", "study_id", "edema_severity"], edema_rows
        )
        # CXR-LT 2024: only Normal and Mass vary; the other 24 mapped classes are 0.
        others = [c for c in CXRLT26 if c not in ("No Finding", "Mass")]
        (root / "cxr-lt-2024").mkdir()
        expected["cxr-lt-2024/train_labeled.csv"] = _csv(
            root / "cxr-lt-2024" / "train_labeled.csv",
            ["dicom_id", "subject_id", "study_id", "Normal", "Mass", *others],
            [(*r, *["0"] * len(others)) for r in lt24_rows],
        )
        (root / "mimic-cxr-vqa").mkdir()
        (root / "mimic-cxr-vqa" / "train.json").write_text(json.dumps(vqa_items))
        expected["mimic-cxr-vqa/train.json"] = list(range(len(vqa_items)))

        t = read_sources(root, SourcesConfig(check_images=False))

        seen = {Path(i.path).relative_to(root.resolve()).as_posix() for i in t.inputs}
        assert set(expected) <= seen, set(expected) - seen
        used = used_rows(t)
        q = t.quarantine
        for inp in t.inputs:
            label = Path(inp.path).relative_to(root.resolve()).as_posix()
            if label not in expected:
                continue
            want = expected[label]
            assert inp.rows_read == len(want), (label, inp)
            assert inp.rows_read == inp.rows_used + inp.rows_quarantined
            qlines = q.filter(pl.col("file") == label)["line"].to_list()
            ulines = used.get(label, set())
            assert len(qlines) == len(set(qlines)) == inp.rows_quarantined, (label, qlines)
            assert len(ulines) == inp.rows_used and not (ulines & set(qlines))
            assert ulines | set(qlines) == set(want), (label, ulines, qlines, want)
