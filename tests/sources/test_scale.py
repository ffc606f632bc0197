"""Slow: MIMIC-scale timing of read_sources on synthetic native files (``pytest -m slow``).

``IMAX_SOURCES_SCALE`` (default 0.1) scales the row counts of the real release (377,110 images, 227,835
studies, ~243K CheXmask rows, ~377K VQA pairs); at 1.0 generation takes minutes and ~4 GB of disk. The
budget asserted is the sources' share of the 30 s build budget, scaled linearly (plus start-up).
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from imax.schema.config.sources import SourcesConfig
from imax.schema.records import CHEXPERT14, CXRLT26
from imax.sources import read_sources
from imax.sources.rle import encode_rle

SCALE = float(os.environ.get("IMAX_SOURCES_SCALE", "0.1"))


def write_scale_root(root: Path, scale: float, seed: int = 0) -> None:
    """All sources in their native formats at ``scale`` × MIMIC size (content synthetic, ids valid)."""
    rng = np.random.default_rng(seed)
    n_img, n_study = int(377_110 * scale), int(227_835 * scale)
    study_of = np.sort(rng.integers(0, n_study, n_img))
    studies = 50_000_000 + rng.choice(9_999_999, n_study, replace=False)
    subjects = 10_000_000 + rng.integers(0, max(1, int(65_000 * scale)), n_study) * 100
    dicom = ["-".join(f"{x:08x}" for x in r) for r in rng.integers(0, 16**8, (n_img, 5), dtype=np.int64)]
    views = rng.choice(["PA", "AP", "LATERAL", "LL", ""], n_img, p=[0.26, 0.39, 0.22, 0.09, 0.04])
    sub, stu = subjects[study_of], studies[study_of]
    paths = [f"files/p{str(s)[:2]}/p{s}/s{t}/{d}.jpg" for s, t, d in zip(sub, stu, dicom, strict=True)]
    meta = pl.DataFrame(
        {
            "dicom_id": dicom,
            "subject_id": sub,
            "study_id": stu,
            "ViewPosition": views,
            "Rows": 128,
            "Columns": 128,
        }
    )
    (root / "jpg").mkdir(parents=True)
    (root / "jpg/mimic-cxr-2.0.0-metadata.csv.gz").write_bytes(gzip.compress(meta.write_csv().encode(), 1))
    split = meta.select("dicom_id", "study_id", "subject_id", split=pl.lit("train"))
    (root / "jpg/mimic-cxr-2.0.0-split.csv.gz").write_bytes(gzip.compress(split.write_csv().encode(), 1))
    vals = np.array(["", "1.0", "0.0", "-1.0"])
    chex = pl.DataFrame(
        {
            "subject_id": subjects,
            "study_id": studies,
            **{c: vals[rng.choice(4, n_study, p=[0.8, 0.1, 0.07, 0.03])] for c in CHEXPERT14},
        }
    )
    (root / "jpg/mimic-cxr-2.0.0-chexpert.csv.gz").write_bytes(gzip.compress(chex.write_csv().encode(), 1))
    (root / "cxr-lt-2023").mkdir()
    lt = pl.DataFrame(
        {
            "subject_id": sub,
            "study_id": stu,
            "dicom_id": dicom,
            "path": paths,
            **{c: rng.choice(2, n_img, p=[0.93, 0.07]) for c in CXRLT26},
        }
    )
    lt.write_csv(root / "cxr-lt-2023/train.csv")
    front = np.flatnonzero(np.isin(views, ["PA", "AP"]))
    masks = []
    for _ in range(40):
        m = np.zeros((128, 128), bool)
        y, x = rng.integers(10, 40, 2)
        m[y : y + 60, x : x + 40] = True
        masks.append(encode_rle(m))
    tm = np.array(masks)
    (root / "chexmask").mkdir()
    pl.DataFrame(
        {
            "dicom_id": [dicom[i] for i in front],
            "Dice RCA (Mean)": rng.uniform(0.6, 0.95, front.size),
            "Left Lung": tm[rng.integers(0, 40, front.size)],
            "Right Lung": tm[rng.integers(0, 40, front.size)],
            "Heart": tm[rng.integers(0, 40, front.size)],
            "Height": 128,
            "Width": 128,
        }
    ).write_csv(root / "chexmask/MIMIC-CXR-JPG.csv")
    (root / "mimic-cxr-vqa").mkdir()
    pick = front[rng.integers(0, front.size, n_img)]
    (root / "mimic-cxr-vqa/train.json").write_text(
        json.dumps(
            [
                {
                    "idx": k,
                    "subject_id": str(sub[i]),
                    "study_id": str(stu[i]),
                    "image_id": dicom[i],
                    "image_path": paths[i][6:],
                    "question": "Is there an effusion?",
                    "semantic_type": "verify",
                    "content_type": "presence",
                    "answer": ["no"],
                }
                for k, i in enumerate(pick.tolist())
            ]
        )
    )
    (root / "card").mkdir()
    pl.DataFrame(
        {"dicom_file": [dicom[i] for i in front], "CTR": rng.uniform(0.3, 0.7, front.size)}
    ).write_csv(root / "card/CTRs.csv")
    text = " FINAL REPORT\n EXAMINATION:  CHEST\n \n FINDINGS: \n \n Lungs are clear.\n \n IMPRESSION: \n \n Normal.\n"
    for s, t in zip(subjects.tolist(), studies.tolist(), strict=True):
        d = root / "files" / f"p{str(s)[:2]}" / f"p{s}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"s{t}.txt").write_text(text)


@pytest.mark.slow
def test_scale_budget(tmp_path: Path) -> None:
    write_scale_root(tmp_path, SCALE)
    t0 = time.perf_counter()
    tables = read_sources(tmp_path, SourcesConfig(check_images=False))
    seconds = time.perf_counter() - t0
    assert tables.missing == ["edema"]
    assert tables.images.height == int(377_110 * SCALE)
    assert all(i.rows_read == i.rows_used + i.rows_quarantined for i in tables.inputs)
    assert seconds <= 2 + 20 * SCALE, f"read_sources took {seconds:.1f} s at scale {SCALE}"
