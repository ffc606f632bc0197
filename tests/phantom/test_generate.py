"""Reads every file of a 200-patient phantom back with plain pandas/json and checks it against truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from imax.schema.records import CHEXPERT14, CXRLT26

from .test_rle import decode

DICOM = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
META = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
        "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
        "PatientOrientationCodeSequence_CodeMeaning"]


def find(root: Path, name: str) -> Path:
    hits = list(root.rglob(name))
    assert len(hits) == 1, (name, hits)
    return hits[0]


def test_mimic_tables(phantom200: Path):
    meta = pd.read_csv(phantom200 / "mimic-cxr-2.0.0-metadata.csv.gz")
    assert list(meta.columns) == META
    assert meta["dicom_id"].str.fullmatch(DICOM.pattern).all() and meta["dicom_id"].str.len().eq(44).all()
    assert meta["dicom_id"].is_unique
    assert meta["subject_id"].between(10_000_000, 19_999_999).all()
    assert meta["study_id"].between(50_000_000, 59_999_999).all()
    assert set(meta["ViewPosition"]) == {"PA", "AP", "LATERAL", "LL"}
    assert meta["StudyTime"].dtype == np.float64 and (meta["StudyTime"] < 100000).any()  # leading zero lost
    per_patient = meta.groupby("subject_id")["study_id"].nunique()
    assert per_patient.between(1, 4).all() and per_patient.max() > 1
    truth = pd.read_parquet(phantom200 / "truth.parquet")
    assert len(truth) == len(meta) and set(truth["dicom_id"]) == set(meta["dicom_id"])
    for _, row in meta.head(20).iterrows():
        s = str(row["subject_id"])
        p = phantom200 / f"files/p{s[:2]}/p{s}/s{row['study_id']}/{row['dicom_id']}.jpg"
        im = Image.open(p)
        assert im.mode == "L" and im.size == (row["Columns"], row["Rows"])
    listed = (phantom200 / "IMAGE_FILENAMES").read_text().splitlines()
    assert set(listed) == set(truth["path"]) and all((phantom200 / p).is_file() for p in listed)
    split = pd.read_csv(phantom200 / "mimic-cxr-2.0.0-split.csv.gz")
    assert list(split.columns) == ["dicom_id", "study_id", "subject_id", "split"]
    assert set(split["split"]) == {"train", "validate", "test"}
    assert split.groupby("subject_id")["split"].nunique().eq(1).all()  # patient-disjoint
    chex = pd.read_csv(phantom200 / "mimic-cxr-2.0.0-chexpert.csv.gz")
    assert list(chex.columns) == ["subject_id", "study_id", *CHEXPERT14]
    assert chex["study_id"].is_unique and set(chex["study_id"]) == set(meta["study_id"])
    values = set(np.unique(chex[list(CHEXPERT14)].to_numpy().ravel()[~np.isnan(chex[list(CHEXPERT14)].to_numpy().ravel())]))
    assert values == {1.0, 0.0, -1.0}
    assert chex[list(CHEXPERT14)].isna().any().any()
    # Labels track the truth: cardiomegaly positives are mostly true cardiomegaly.
    st = truth.drop_duplicates("study_id").set_index("study_id")
    pos = chex.set_index("study_id")["Cardiomegaly"] == 1.0
    assert st.loc[pos[pos].index, "cardiomegaly"].mean() > 0.85


def test_reports(phantom200: Path):
    meta = pd.read_csv(phantom200 / "mimic-cxr-2.0.0-metadata.csv.gz")
    studies = meta.drop_duplicates("study_id")
    texts = []
    for _, row in studies.iterrows():
        s = str(row["subject_id"])
        texts.append((phantom200 / f"files/p{s[:2]}/p{s}/s{row['study_id']}.txt").read_text())
    for t in texts:
        lines = t.rstrip("\n").split("\n")
        assert all(ln.startswith(" ") for ln in lines)
        assert all(len(ln) <= 79 for ln in lines)
        assert "FINAL REPORT" in t and "\n IMPRESSION:" in t
        for h in ("EXAMINATION:", "INDICATION:", "TECHNIQUE:", "COMPARISON:"):
            assert f"\n {h}" in t
        assert "___" in t
    with_findings = sum("\n FINDINGS:" in t for t in texts)
    assert 0 < with_findings < len(texts)
    assert any("ADDENDUM" in t for t in texts)
    assert any(re.search(r"\bno pleural effusion|no effusion", t, re.I) for t in texts)
    assert any(re.search(r"possible|may represent|cannot exclude|likely reflect", t, re.I) for t in texts)


def test_cardiomegaly_and_chexmask(phantom200: Path):
    truth = pd.read_parquet(phantom200 / "truth.parquet").set_index("dicom_id")
    ctr = pd.read_csv(find(phantom200, "CTRs.csv"))
    cpar = pd.read_csv(find(phantom200, "CPARs.csv"))
    assert list(ctr.columns) == ["dicom_file", "CTR"] and list(cpar.columns) == ["dicom_file", "CPAR"]
    assert (truth.loc[ctr["dicom_file"], "view"] == "PA").all()
    assert len(ctr) == (truth["view"] == "PA").sum()
    codes = ctr[ctr["CTR"] >= 2]
    assert len(codes) >= 1 and set(codes["CTR"]) <= {2.0, 3.0, 4.0}
    cm = pd.read_csv(find(phantom200, "MIMIC-CXR-JPG.csv"))
    assert list(cm.columns) == ["dicom_id", "Dice RCA (Mean)", "Dice RCA (Max)", "Landmarks", "Left Lung",
                                "Right Lung", "Heart", "Height", "Width"]
    assert truth.loc[cm["dicom_id"], "frontal"].all() and len(cm) == truth["frontal"].sum()
    assert (cm["Dice RCA (Mean)"] < 0.7).any()
    good = cm[cm["Dice RCA (Mean)"] >= 0.7].set_index("dicom_id")
    ctr_v = ctr.set_index("dicom_file")["CTR"]
    cpar_v = cpar.set_index("dicom_file")["CPAR"]
    checked = 0
    for did, row in good.iterrows():
        h, w = int(row["Height"]), int(row["Width"])
        left, right, heart = (decode(row[c], h, w) for c in ("Left Lung", "Right Lung", "Heart"))
        t = truth.loc[did]
        assert left.sum() == t["left_lung_area"] and heart.sum() == t["heart_area"]
        # Patient's left lung on the image right.
        assert np.nonzero(left)[1].mean() > np.nonzero(right)[1].mean()
        for m, key in ((heart, "heart_box"), (left, "left_lung_box"), (right, "right_lung_box")):
            ys, xs = np.nonzero(m)
            assert list(t[key]) == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        lungs = left | right
        xs_h, xs_l = np.nonzero(heart)[1], np.nonzero(lungs)[1]
        my_ctr = (xs_h.max() - xs_h.min() + 1) / (xs_l.max() - xs_l.min() + 1)
        my_cpar = heart.sum() / lungs.sum()
        if did in ctr_v.index and ctr_v[did] < 2:
            assert abs(ctr_v[did] - my_ctr) < 0.02 and abs(cpar_v[did] - my_cpar) < 0.02
            checked += 1
        assert len(re.findall(r"\d+", row["Landmarks"])) == 240
    assert checked > 20


def test_edema_files(phantom200: Path):
    truth = pd.read_parquet(phantom200 / "truth.parquet")
    cohort_studies = set(truth.loc[truth["chf_cohort"], "study_id"])
    for name in ("regex_report_edema_severity.csv", "expert_report_edema_severity.csv"):
        df = pd.read_csv(find(phantom200, name))
        assert list(df.columns) == ["subject_id", "study_id", "edema_severity"]
        assert len(df) > 0 and set(df["study_id"]) <= cohort_studies
        assert set(df["edema_severity"]) <= {0, 1, 2, 3}
    cons = pd.read_csv(find(phantom200, "consensus_image_edema_severity.csv"))
    assert list(cons.columns) == ["subject_id", "study_id", "dicom_id", "edema_severity"]
    t = truth.set_index("dicom_id").loc[cons["dicom_id"]]
    assert (t["edema_grade"].to_numpy() == cons["edema_severity"].to_numpy()).all()
    assert t["chf_cohort"].all()


def test_cxrlt(phantom200: Path):
    frames = {n: pd.read_csv(phantom200 / "cxr-lt-2023" / f"{n}.csv") for n in ("train", "development", "test")}
    subjects = [set(df["subject_id"]) for df in frames.values()]
    assert not (subjects[0] & subjects[1]) and not (subjects[0] & subjects[2])
    for df in frames.values():
        assert list(df.columns[6:]) == list(CXRLT26)
        assert {"dicom_id", "subject_id", "study_id", "path"} <= set(df.columns[:6])
        assert df["path"].str.startswith("files/p").all()
        assert set(np.unique(df[list(CXRLT26)].to_numpy())) <= {0, 1}
    assert sum(len(df) for df in frames.values()) == len(pd.read_parquet(phantom200 / "truth.parquet"))


def test_vqa(phantom200: Path):
    truth = pd.read_parquet(phantom200 / "truth.parquet").set_index("dicom_id")
    fields = ["split", "idx", "subject_id", "study_id", "image_id", "image_path", "question", "semantic_type",
              "content_type", "template", "template_program", "template_arguments", "answer"]
    items = []
    for split in ("train", "valid", "test"):
        data = json.loads(find(phantom200, f"{split}.json").read_text())
        assert isinstance(data, list)
        for it in data:
            assert list(it) == fields and it["split"] == split
            assert isinstance(it["subject_id"], str) and isinstance(it["study_id"], str)
            assert not it["image_path"].startswith("files/") and it["image_path"].endswith(it["image_id"] + ".jpg")
            assert it["answer"] == sorted(a.lower() for a in it["answer"])
            assert set(it["template_arguments"]) == {"object", "attribute", "category", "viewpos", "gender"}
        items += data
    assert {i["content_type"] for i in items} == {"anatomy", "attribute", "presence", "abnormality", "plane",
                                                   "gender", "size"}
    assert {i["semantic_type"] for i in items} == {"verify", "choose", "query"}
    imgs = {i["image_id"] for i in items}
    assert imgs < set(truth.index[truth["frontal"]])
    for it in items:
        t = truth.loc[it["image_id"]]
        if it["content_type"] == "plane":
            assert it["answer"] == [t["view"].lower()]
        elif it["content_type"] == "gender":
            assert it["answer"] == [t["sex"].lower()]
        elif it["template_program"] == "program_47":
            assert it["answer"] == ["yes" if t["ctr"] > 0.5 else "no"]
        elif it["content_type"] == "presence":
            attr = it["template_arguments"]["attribute"]["0"]
            obj = it["template_arguments"]["object"]["0"]
            if attr == "pleural effusion":
                sides = [sd for sd in ("left", "right") if t[f"effusion_{sd}"] > 0]
                where = {f"{sd} {o}" for sd in sides for o in ("lung", "lower lung zone", "costophrenic angle")}
                assert it["answer"] == (["yes"] if obj in where else ["no"])
            if attr == "enlarged cardiac silhouette":
                assert it["answer"] == (["yes"] if t["cardiomegaly"] and "cardiac" in it["question"] else ["no"])


def test_summary_and_truth(phantom200: Path):
    s = json.loads((phantom200 / "phantom_summary.json").read_text())
    assert s["patients"] == 200 and s["images"] == sum(s["images_by_view"].values())
    truth = pd.read_parquet(phantom200 / "truth.parquet")
    assert truth["dicom_id"].is_unique
    fr = truth[truth["frontal"]]
    assert fr["ctr"].notna().all() and truth.loc[~truth["frontal"], "ctr"].isna().all()
    # The truth's cardiomegaly flag agrees with the CTR measured on PA masks.
    pa = truth[truth["view"] == "PA"]
    assert ((pa["ctr"] > 0.5) == pa["cardiomegaly"]).mean() > 0.97
    assert 0.15 < truth["no_finding"].mean() < 0.6
