"""Free-text descriptions (the pretraining captions) and the pretraining id block."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from imax.phantom.cohort import sample_cohort
from imax.phantom.ids import STUDY_RANGES, SUBJECT_RANGES
from imax.schema.config.phantom import PhantomConfig


def test_one_description_per_frontal_image_that_follows_the_truth(phantom200: Path):
    d = pd.read_csv(phantom200 / "descriptions.csv")
    t = pd.read_parquet(phantom200 / "truth.parquet").set_index("dicom_id")
    frontal = t[t["frontal"]]
    assert sorted(d["dicom_id"]) == sorted(frontal.index)
    d = d.set_index("dicom_id")["description"]
    for dicom, row in frontal.iterrows():
        text = d[dicom]
        if row["view"] == "AP":
            assert any(w in text for w in ("Bedside", "portable", "at the bedside")), text
        for side in ("left", "right"):
            if row[f"effusion_{side}"] > 0:
                assert f"fluid lies at the {side} base" in text, text
        if row["pneumothorax_side"]:
            assert f"along the {row['pneumothorax_side']} apex" in text
        if row["ctr"] is not None and row["ctr"] >= 0.62:
            assert "very large heart" in text or "greatly enlarged" in text
        # prose only: no numbers beyond the age decade, no questions, no report headers
        assert re.sub(r"\b\d0s\b", "", text).isascii() and not re.search(r"\d", re.sub(r"\b\d0s\b", "", text))
        assert "?" not in text and "FINDINGS" not in text and "IMPRESSION" not in text
    assert d.nunique() > 0.8 * len(d)  # paraphrases and per-image content, not a template


def test_pretrain_block_never_meets_the_study_block():
    (a, b), (c, e) = SUBJECT_RANGES["study"], SUBJECT_RANGES["pretrain"]
    assert b <= c or e <= a
    (a, b), (c, e) = STUDY_RANGES["study"], STUDY_RANGES["pretrain"]
    assert b <= c or e <= a
    for block in ("study", "pretrain"):
        lo, hi = SUBJECT_RANGES[block]
        slo, shi = STUDY_RANGES[block]
        patients = sample_cohort(PhantomConfig(patients=30, seed=9001, id_block=block))
        assert all(lo <= p.subject_id < hi for p in patients)
        assert all(slo <= s.study_id < shi for p in patients for s in p.studies)
    study = {im.dicom_id for p in sample_cohort(PhantomConfig(patients=5, seed=3)) for s in p.studies for im in s.images}
    pool = {im.dicom_id for p in sample_cohort(PhantomConfig(patients=5, seed=3, id_block="pretrain"))
            for s in p.studies for im in s.images}
    assert not study & pool  # same seed, different block: different images
