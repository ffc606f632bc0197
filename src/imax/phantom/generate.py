"""``generate(cfg)``: sample the truth, render every image (in parallel), write every source and the truth."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from imax.phantom import captions, labels, reports, rle, truth, vqa
from imax.phantom.cohort import ImageSpec, Patient, all_images, sample_cohort
from imax.phantom.render import render
from imax.phantom.writers import cardiomegaly, chexmask, cxrlt, edema, mimic, write_csv
from imax.phantom.writers import vqa as vqa_writer
from imax.schema.config.phantom import PhantomConfig
from imax.schema.errors import ImaxError

DESCRIPTIONS = "descriptions.csv"
"""Free-text description per frontal image (:mod:`imax.phantom.captions`), relative to the phantom root."""


@dataclass
class PhantomSummary:
    """What was written (also saved as ``phantom_summary.json``)."""

    out: str
    seed: int
    patients: int
    studies: int
    images: int
    images_by_view: dict[str, int]
    rows: dict[str, int]
    """Official file name (relative to ``out``) -> data rows written."""
    prevalence: dict[str, float]
    """Class -> fraction of images where it is true (noise-free truth)."""
    seconds: float = 0.0
    images_per_second: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _box(mask: np.ndarray) -> list[float] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def _degrade(mask: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """A poor segmentation (what a low RCA score flags): shifted and grown or shrunk."""
    s = mask.shape[0]
    out = np.roll(mask, (int(r.integers(-1, 2) * s * 0.05), int(r.choice([-1, 1]) * s * 0.06)), axis=(0, 1))
    it = max(1, s // 64)
    return ndimage.binary_dilation(out, iterations=it) if r.random() < 0.5 else ndimage.binary_erosion(out,
                                                                                                     iterations=it)


def _work(job: tuple[ImageSpec, str]) -> dict[str, Any]:
    """Render one image, write its JPEG, and return what the tables need (runs in a worker)."""
    spec, out = job
    rd = render(spec)
    path = Path(out) / spec.path
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rd.image).save(path, "JPEG", quality=95)
    res: dict[str, Any] = {"boxes": rd.boxes}
    if not spec.frontal:
        return res
    heart, left, right = rd.masks["heart"], rd.masks["left_lung"], rd.masks["right_lung"]
    hb, lb, rb = _box(heart), _box(left), _box(right)
    lungs = left | right
    ub = _box(lungs)
    res.update(heart_box=hb, left_lung_box=lb, right_lung_box=rb, heart_area=int(heart.sum()),
               left_lung_area=int(left.sum()), right_lung_area=int(right.sum()))
    res["ctr"] = (hb[2] - hb[0]) / (ub[2] - ub[0]) if hb and ub else None
    res["cpar"] = res["heart_area"] / max(1, int(lungs.sum()))
    r = np.random.default_rng([spec.seed, 6, spec.index])
    if spec.chexmask_bad:
        heart, left, right = _degrade(heart, r), _degrade(left, r), _degrade(right, r)
        mean = float(r.uniform(0.45, 0.69))
    else:
        mean = float(r.uniform(0.72, 0.95))
    res["chexmask"] = (round(mean, 6), round(min(1.0, mean + float(r.uniform(0.01, 0.06))), 6),
                       ",".join(map(str, rd.landmarks.ravel().tolist())) if rd.landmarks is not None else "",
                       rle.encode(left), rle.encode(right), rle.encode(heart), spec.size, spec.size)
    return res


def _render_all(images: list[ImageSpec], out: Path, workers: int) -> list[dict[str, Any]]:
    jobs = [(im, str(out)) for im in images]
    if workers <= 1 or len(jobs) < 8:
        return [_work(j) for j in jobs]
    # spawn: no inherited state (polars/threads) and the same result on every platform.
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        return list(pool.imap(_work, jobs, chunksize=8))


def generate(cfg: PhantomConfig) -> PhantomSummary:
    """Write the whole phantom under ``cfg.out``; deterministic in ``cfg.seed`` (not in ``cfg.workers``)."""
    if cfg.patients < 1:
        raise ImaxError(f"patients must be >= 1, got {cfg.patients}")
    if cfg.image_size < 64 or cfg.image_size % 32:
        # Low resolution = size/4 must hold whole 8-pixel noise cells.
        raise ImaxError(f"image_size must be a multiple of 32 and >= 64, got {cfg.image_size}")
    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    patients = sample_cohort(cfg)
    images = all_images(patients)
    results = dict(zip((im.index for im in images), _render_all(images, out, cfg.workers), strict=True))
    extra: dict[int, dict[str, Any]] = {im.index: {} for im in images}
    rows: dict[str, int] = {}

    # ---- reports and report-derived labels ------------------------------------------------------
    reps: dict[int, reports.Report] = {}
    chex: dict[int, list[float]] = {}
    lt: dict[int, list[int]] = {}
    gi = 0
    for p in patients:
        prior = None
        for s in p.studies:
            r = np.random.default_rng([cfg.seed, 5, gi])
            gi += 1
            rep = reports.write_report(s, prior, r, with_findings=r.random() >= cfg.no_findings_fraction,
                                       addendum=r.random() < cfg.addendum_fraction, sex=p.sex, age=p.age)
            reps[s.study_id] = rep
            chex[s.study_id] = labels.chexpert_row(rep, r, cfg.label_noise)
            lt[s.study_id] = labels.cxrlt_row(rep, r, cfg.label_noise)
            for im in s.images:
                extra[im.index].update(report_has_findings=rep.has_findings, report_addendum=rep.addendum,
                                       report_edema_grade=labels.regex_edema_grade(rep.text))
            prior = s
    rows["mimic-cxr-2.0.0-metadata.csv.gz"] = mimic.write_metadata(patients, out)
    rows["mimic-cxr-2.0.0-split.csv.gz"] = mimic.write_split(patients, out)
    rows["mimic-cxr-2.0.0-chexpert.csv.gz"] = mimic.write_chexpert(patients, chex, out)
    rows["IMAGE_FILENAMES"] = mimic.write_image_filenames(patients, out)
    rows["files/**/s*.txt"] = mimic.write_reports(patients, reps, out)

    # ---- cxr-cardiomegaly -------------------------------------------------------------------------
    r = np.random.default_rng([cfg.seed, 4])
    eligible = [im for im in images if im.view in cfg.ctr_views and results[im.index].get("ctr") is not None]
    # Failure codes: a fixed share of rows (at least one once there are 20 rows), 2 heart / 3 lungs / 4 neither.
    n_fail = round(cfg.ctr_failure_fraction * len(eligible))
    if cfg.ctr_failure_fraction > 0 and len(eligible) >= 20:
        n_fail = max(1, n_fail)
    failed = set(r.choice(len(eligible), size=n_fail, replace=False).tolist()) if n_fail else set()
    ctr_rows = []
    for i, im in enumerate(eligible):
        code = int(r.choice([2, 3, 4], p=[0.5, 0.3, 0.2])) if i in failed else 0
        extra[im.index].update(ctr_row=True, ctr_failure=code)
        ctr_rows.append((im.dicom_id, results[im.index]["ctr"], results[im.index]["cpar"], code))
    for im in images:
        extra[im.index].setdefault("ctr_row", False)
        extra[im.index].setdefault("ctr_failure", 0)
    n = cardiomegaly.write(ctr_rows, out)
    rows["cxr-cardiomegaly/CTRs.csv"] = rows["cxr-cardiomegaly/CPARs.csv"] = n

    # ---- CheXmask ---------------------------------------------------------------------------------
    r = np.random.default_rng([cfg.seed, 7])
    cm_rows = []
    for im in images:
        take = im.frontal and r.random() < cfg.chexmask_fraction
        extra[im.index]["chexmask_row"] = bool(take)
        if take:
            cm_rows.append((im.dicom_id, *results[im.index]["chexmask"]))
    rows[chexmask.PATH] = chexmask.write(cm_rows, out)

    # ---- edema severity (heart-failure sub-cohort) ------------------------------------------------
    rows.update(_edema(cfg, patients, reps, extra, out))

    # ---- CXR-LT 2023 --------------------------------------------------------------------------------
    lt_rows: dict[str, list[list[object]]] = {"train": [], "development": [], "test": []}
    for p in patients:
        for s in p.studies:
            for im in s.images:
                lt_rows[p.cxrlt_split].append([im.dicom_id, im.subject_id, im.study_id, im.view,
                                               mimic.VIEW_MEANING[im.view], im.path, *lt[s.study_id]])
    rows.update(cxrlt.write(lt_rows, out))

    # ---- MIMIC-CXR-VQA ----------------------------------------------------------------------------
    rows.update(_vqa(cfg, patients, results, extra, out))

    # ---- free-text descriptions (the pretraining captions; not a task source) ----------------------
    desc = [(im.dicom_id, captions.describe(im, results[im.index].get("ctr"), np.random.default_rng([cfg.seed, 14, im.index])))
            for im in images if im.frontal]
    rows[DESCRIPTIONS] = write_csv(pd.DataFrame(desc, columns=["dicom_id", "description"]), out / DESCRIPTIONS)

    # ---- truth, summary, preview ------------------------------------------------------------------
    df = truth.truth_rows(patients, results, extra)
    truth.write_truth(df, out / "truth.parquet")
    seconds = time.perf_counter() - t0
    views: dict[str, int] = {}
    for im in images:
        views[im.view] = views.get(im.view, 0) + 1
    all_pos = [im.findings.positives() for im in images]
    prevalence = {k: round(sum(p[k] for p in all_pos) / len(all_pos), 4) for k in sorted(all_pos[0])}
    summary = PhantomSummary(
        out=str(out), seed=cfg.seed, patients=len(patients), studies=sum(len(p.studies) for p in patients),
        images=len(images), images_by_view=dict(sorted(views.items())), rows=dict(sorted(rows.items())),
        prevalence=prevalence, seconds=round(seconds, 3), images_per_second=round(len(images) / seconds, 2),
    )
    # Timing and the output path vary run to run, so they stay out of the file (byte-identical per seed).
    stable = PhantomSummary(**{**asdict(summary), "out": ".", "seconds": 0.0, "images_per_second": 0.0})
    (out / "phantom_summary.json").write_text(stable.to_json() + "\n")
    if cfg.preview is not None:
        from imax.phantom.preview import write_contact_sheet

        write_contact_sheet(out, Path(cfg.preview))
    return summary


def _edema(cfg: PhantomConfig, patients: list[Patient], reps: dict[int, reports.Report],
           extra: dict[int, dict[str, Any]], out: Path) -> dict[str, int]:
    r = np.random.default_rng([cfg.seed, 8])
    cohort = [(p, s) for p in patients if p.chf for s in p.studies]
    regex, expert, consensus = [], [], []
    for p, s in cohort:
        grade = labels.regex_edema_grade(reps[s.study_id].text)
        if grade is not None and r.random() < cfg.edema_regex_fraction:
            regex.append((p.subject_id, s.study_id, grade))
            for im in s.images:
                extra[im.index]["edema_regex"] = grade
    if cohort:
        k = max(1, round(cfg.edema_expert_fraction * len(cohort)))
        for i in sorted(r.choice(len(cohort), size=min(k, len(cohort)), replace=False).tolist()):
            p, s = cohort[i]
            g = s.findings.edema_grade
            if r.random() < 0.08:  # experts reading reports still disagree by one grade sometimes
                g = int(np.clip(g + r.choice([-1, 1]), 0, 3))
            expert.append((p.subject_id, s.study_id, g))
            for im in s.images:
                extra[im.index]["edema_expert"] = g
        frontal = [(p, s, im) for p, s in cohort for im in s.images if im.frontal]
        k = max(1, round(cfg.edema_consensus_fraction * len(frontal)))
        for i in sorted(r.choice(len(frontal), size=min(k, len(frontal)), replace=False).tolist()):
            p, s, im = frontal[i]
            consensus.append((p.subject_id, s.study_id, im.dicom_id, s.findings.edema_grade))
            extra[im.index]["edema_consensus"] = s.findings.edema_grade
    for d in extra.values():
        for k in ("edema_regex", "edema_expert", "edema_consensus"):
            d.setdefault(k, None)
    return {f"{edema.FOLDER}/{k}": v for k, v in edema.write(regex, expert, consensus, out).items()}


def _vqa(cfg: PhantomConfig, patients: list[Patient], results: dict[int, dict[str, Any]],
         extra: dict[int, dict[str, Any]], out: Path) -> dict[str, int]:
    r = np.random.default_rng([cfg.seed, 9])
    items: dict[str, list[dict[str, Any]]] = {"train": [], "valid": [], "test": []}
    for p in patients:
        # MIMIC-CXR-VQA keeps the official test patients for test and carves "valid" out of the rest.
        split = "test" if p.split == "test" else ("valid" if p.split == "validate" or r.random() < 0.05 else "train")
        for s in p.studies:
            for im in s.images:
                qs = []
                if im.frontal and r.random() < cfg.vqa_image_fraction:
                    qs = vqa.questions(im, results[im.index].get("ctr"), cfg.vqa_questions_per_image, cfg.seed)
                extra[im.index]["vqa_questions"] = len(qs)
                for q in qs:
                    items[split].append({
                        "split": split, "idx": len(items[split]), "subject_id": str(im.subject_id),
                        "study_id": str(im.study_id), "image_id": im.dicom_id,
                        "image_path": im.path.removeprefix("files/"), "question": q["q"], "semantic_type": q["st"],
                        "content_type": q["ct"], "template": q["t"], "template_program": q["p"],
                        "template_arguments": q["a"], "answer": q["ans"],
                    })
    return vqa_writer.write(items, out)
