"""The latent truth: patients, studies and images, and the findings each study has.

Everything downstream (pixels, masks, reports, labels, VQA answers) is derived from the objects
sampled here. Findings live on the study (all images of a study show the same disease state);
anatomy lives on the patient, with per-study and per-image variation (view, magnification, shift).
Sides are the **patient's**: ``"left"`` is on the image right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imax.phantom.ids import dicom_id, image_path, study_ids, subject_ids
from imax.schema.config.phantom import PhantomConfig

SIDES = ("left", "right")
ZONES = ("upper", "middle", "lower")


@dataclass
class Findings:
    """One study's disease state. Severity ints: 0 none, 1 small/mild, 2 moderate, 3 large/severe."""

    heart_ratio: float = 0.45
    """Target PA cardiothoracic ratio of the rendered heart (AP films magnify it)."""
    cardiomegaly: bool = False
    enlarged_cm: bool = False
    effusion_left: int = 0
    effusion_right: int = 0
    pneumothorax_side: str = ""
    pneumothorax_size: int = 0
    consolidation_side: str = ""
    consolidation_zone: str = ""
    pneumonia: bool = False
    nodule_side: str = ""
    nodule_zone: str = ""
    nodule_mm: float = 0.0
    mass_side: str = ""
    mass_zone: str = ""
    mass_mm: float = 0.0
    atelectasis_side: str = ""
    edema_grade: int = 0
    ett: bool = False
    ngt: bool = False
    cvc: bool = False
    pacemaker: bool = False
    sternotomy: bool = False
    fracture_side: str = ""
    fracture_rib: int = 0
    aortic_calcification: bool = False
    tortuous_aorta: bool = False
    emphysema: bool = False
    fibrosis: bool = False
    hernia: bool = False
    infiltration_side: str = ""
    pleural_thickening_side: str = ""
    pneumomediastinum: bool = False
    pneumoperitoneum: bool = False
    subcutaneous_emphysema_side: str = ""

    @property
    def effusion(self) -> bool:
        return self.effusion_left > 0 or self.effusion_right > 0

    @property
    def support_devices(self) -> bool:
        return self.ett or self.ngt or self.cvc or self.pacemaker or self.sternotomy

    @property
    def lung_opacity(self) -> bool:
        # CheXpert's umbrella term: any increased density in the lung field.
        return bool(
            self.consolidation_side or self.atelectasis_side or self.edema_grade >= 2 or self.fibrosis
            or self.infiltration_side
        )

    def positives(self) -> dict[str, bool]:
        """Every CheXpert-14 / CXR-LT-26 class name -> present in the truth."""
        f = self
        pos = {
            "Atelectasis": bool(f.atelectasis_side),
            "Calcification of the Aorta": f.aortic_calcification,
            "Cardiomegaly": f.cardiomegaly,
            "Consolidation": bool(f.consolidation_side),
            "Edema": f.edema_grade >= 2,
            "Emphysema": f.emphysema,
            "Enlarged Cardiomediastinum": f.enlarged_cm,
            "Fibrosis": f.fibrosis,
            "Fracture": bool(f.fracture_side),
            "Hernia": f.hernia,
            "Infiltration": bool(f.infiltration_side),
            "Lung Lesion": bool(f.nodule_side or f.mass_side),
            "Lung Opacity": f.lung_opacity,
            "Mass": bool(f.mass_side),
            "Nodule": bool(f.nodule_side),
            "Pleural Effusion": f.effusion,
            "Pleural Other": bool(f.pleural_thickening_side),
            "Pleural Thickening": bool(f.pleural_thickening_side),
            "Pneumomediastinum": f.pneumomediastinum,
            "Pneumonia": f.pneumonia,
            "Pneumoperitoneum": f.pneumoperitoneum,
            "Pneumothorax": bool(f.pneumothorax_side),
            "Subcutaneous Emphysema": bool(f.subcutaneous_emphysema_side),
            "Support Devices": f.support_devices,
            "Tortuous Aorta": f.tortuous_aorta,
        }
        # Edema grade 1 (vascular congestion) is not labelled "Edema" by CheXpert-style labellers.
        pos["No Finding"] = not any(v for k, v in pos.items() if k != "Support Devices")
        return pos


@dataclass
class ImageSpec:
    """Everything a worker needs to render one image (picklable)."""

    index: int
    dicom_id: str
    subject_id: int
    study_id: int
    view: str
    """ViewPosition: "PA", "AP", "LATERAL" or "LL"."""
    path: str
    """files/pXX/pSUBJECT/sSTUDY/DICOM_ID.jpg"""
    size: int
    seed: int
    sex: str
    age: int
    geometry: dict[str, float]
    """Patient anatomy + study/image variation, normalised image units (see anatomy.py)."""
    findings: Findings
    chexmask_bad: bool = False

    @property
    def frontal(self) -> bool:
        return self.view in ("PA", "AP")


@dataclass
class Study:
    study_id: int
    subject_id: int
    index: int
    """0-based order within the patient (0 = first study; later ones compare with priors)."""
    findings: Findings
    images: list[ImageSpec] = field(default_factory=list)
    date: int = 0
    time: float = 0.0
    chf: bool = False


@dataclass
class Patient:
    subject_id: int
    sex: str
    age: int
    chf: bool
    split: str
    cxrlt_split: str
    studies: list[Study] = field(default_factory=list)


def patient_rng(seed: int, i: int) -> np.random.Generator:
    """The RNG of patient ``i``: independent of the patient count and of the other patients."""
    return np.random.default_rng([seed, 0, i])


def _patient_geometry(r: np.random.Generator, sex: str) -> dict[str, float]:
    g = {
        "x_c": 0.5 + r.normal(0, 0.008),
        "w": r.uniform(0.33, 0.39),  # half-width of the lung union
        "y_top": r.uniform(0.09, 0.13),
        "dome_r": r.uniform(0.61, 0.67),
        "dome_dl": r.uniform(0.015, 0.04),  # left dome sits lower than the right
        "cp_drop": r.uniform(0.06, 0.09),
        "m_top": r.uniform(0.045, 0.06),
        "apex_c": r.uniform(0.12, 0.16),
        "heart_top": r.uniform(0.38, 0.43),
        "heart_tilt": r.uniform(0.15, 0.35),
        "knob": r.uniform(0.01, 0.025),
        "rib_gap": r.uniform(0.052, 0.06),
        "rib_w": r.uniform(0.016, 0.022),
        "body_hw": r.uniform(0.45, 0.5),
        "breast": (r.uniform(0.4, 1.0) if sex == "F" else r.uniform(0.0, 0.15)),
        "lung_dark": r.uniform(0.58, 0.72),
        "tissue_mu": r.uniform(0.9, 1.1),
    }
    return g


def _sample_study_findings(
    r: np.random.Generator, base_heart: float, chf: bool, is_ap: bool, chronic: dict[str, object]
) -> Findings:
    f = Findings()
    f.heart_ratio = float(np.clip(base_heart + r.normal(0, 0.008), 0.34, 0.7))
    # Keep a margin around the 0.5 cut so the rendered CTR agrees with the truth label.
    if 0.485 < f.heart_ratio < 0.52:
        f.heart_ratio = 0.48 if f.heart_ratio < 0.5 else 0.525
    f.cardiomegaly = f.heart_ratio > 0.5
    f.enlarged_cm = bool(r.random() < (0.12 if f.cardiomegaly else 0.02))
    probs = [0.42, 0.22, 0.26, 0.10] if chf else ([0.86, 0.07, 0.05, 0.02] if f.cardiomegaly else [0.94, 0.03, 0.02, 0.01])
    f.edema_grade = int(r.choice(4, p=probs))
    p_eff = [0.14, 0.3, 0.45, 0.7][f.edema_grade] + (0.08 if is_ap else 0.0)
    if r.random() < p_eff:
        sev = int(r.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
        both = r.random() < (0.35 + 0.12 * f.edema_grade)
        side = r.choice(SIDES)
        if both or side == "right":
            f.effusion_right = sev
        if both or side == "left":
            f.effusion_left = max(1, sev - int(r.integers(0, 2))) if both else sev
    sick = 1.0 if is_ap else 0.0
    if r.random() < 0.035 + 0.02 * sick:
        f.pneumothorax_side = str(r.choice(SIDES))
        f.pneumothorax_size = int(r.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    if r.random() < 0.08:
        f.consolidation_side = str(r.choice(SIDES))
        f.consolidation_zone = str(r.choice(ZONES, p=[0.2, 0.3, 0.5]))
        f.pneumonia = bool(r.random() < 0.6)
    if r.random() < 0.09 + 0.2 * f.effusion:
        f.atelectasis_side = str(r.choice(["left", "right", "bilateral"], p=[0.4, 0.3, 0.3]))
    if r.random() < 0.02:
        f.infiltration_side = str(r.choice(SIDES))
    if r.random() < 0.025:
        f.fracture_side = str(r.choice(SIDES))
        f.fracture_rib = int(r.integers(3, 9))
    f.ett = bool(r.random() < (0.18 if is_ap else 0.01))
    f.ngt = bool(r.random() < (0.15 if is_ap else 0.01))
    f.cvc = bool(r.random() < (0.22 if is_ap else 0.03))
    f.pneumomediastinum = bool(r.random() < 0.005)
    f.pneumoperitoneum = bool(r.random() < 0.005)
    if r.random() < 0.01:
        f.subcutaneous_emphysema_side = str(r.choice(SIDES))
    # Chronic findings persist over a patient's studies.
    for key, value in chronic.items():
        setattr(f, key, value)
    return f


def _chronic(r: np.random.Generator, age: int, chf: bool) -> dict[str, object]:
    old = (age - 20) / 70
    c: dict[str, object] = {
        "pacemaker": bool(r.random() < (0.1 if chf else 0.03)),
        "sternotomy": bool(r.random() < (0.08 if chf else 0.03)),
        "emphysema": bool(r.random() < 0.04),
        "aortic_calcification": bool(r.random() < 0.09 * old),
        "tortuous_aorta": bool(r.random() < 0.07 * old),
        "fibrosis": bool(r.random() < 0.02),
        "hernia": bool(r.random() < 0.015),
    }
    if r.random() < 0.03:
        c["nodule_side"] = str(r.choice(SIDES))
        c["nodule_zone"] = str(r.choice(ZONES))
        c["nodule_mm"] = float(r.uniform(8, 28))
    if r.random() < 0.015:
        c["mass_side"] = str(r.choice(SIDES))
        c["mass_zone"] = str(r.choice(ZONES))
        c["mass_mm"] = float(r.uniform(32, 65))
    if r.random() < 0.02:
        c["pleural_thickening_side"] = str(r.choice(SIDES))
    return c


def _split_of(u: float, cfg: PhantomConfig) -> str:
    if u < cfg.test_fraction:
        return "test"
    if u < cfg.test_fraction + cfg.validate_fraction:
        return "validate"
    return "train"


def sample_cohort(cfg: PhantomConfig) -> list[Patient]:
    """Draw every patient, study, image and finding (deterministic in ``cfg.seed``)."""
    sids = subject_ids(cfg.seed, cfg.patients, cfg.id_block)
    patients: list[Patient] = []
    n_studies_total = 0
    for i, sid in enumerate(sids):
        r = patient_rng(cfg.seed, i)
        sex = "F" if r.random() < 0.5 else "M"
        age = int(18 + 72 * r.beta(2.6, 1.8))
        chf = bool(r.random() < cfg.edema_cohort_fraction)
        # Patient-level split draws; the official split and CXR-LT split are patient-disjoint.
        split = _split_of(r.random(), cfg)
        u = r.random()
        cxrlt = (
            "development" if u < cfg.cxrlt_development_fraction
            else "test" if u < cfg.cxrlt_development_fraction + cfg.cxrlt_test_fraction
            else "train"
        )
        p = Patient(sid, sex, age, chf, split, cxrlt)
        geom = _patient_geometry(r, sex)
        p_card = 0.75 if chf else 0.1 + 0.2 * (age - 18) / 72
        base_heart = r.uniform(0.525, 0.66) if r.random() < p_card else r.uniform(0.37, 0.48)
        chronic = _chronic(r, age, chf)
        sick = r.random()
        weights = np.array([0.45, 0.3, 0.15, 0.1][: cfg.max_studies])
        n_st = int(r.choice(len(weights), p=weights / weights.sum())) + 1
        date = int(2110 + r.integers(0, 80)) * 10000 + int(r.integers(1, 13)) * 100 + int(r.integers(1, 29))
        for k in range(n_st):
            p_ap = float(np.clip(cfg.ap_fraction + 0.4 * (sick - 0.5), 0.0, 1.0))
            is_ap = bool(r.random() < p_ap)
            f = _sample_study_findings(r, base_heart, chf, is_ap, chronic)
            hh, mm, ss = int(r.integers(0, 24)), int(r.integers(0, 60)), int(r.integers(0, 60))
            ms = int(r.integers(0, 1000))
            st = Study(0, sid, k, f, date=date + k * 3, time=float(f"{hh:02d}{mm:02d}{ss:02d}.{ms:03d}"), chf=chf)
            views = ["AP" if is_ap else "PA"]
            if r.random() < (cfg.lateral_fraction_ap if is_ap else cfg.lateral_fraction_pa):
                views.append("LL" if r.random() < cfg.ll_fraction else "LATERAL")
            sgeom = dict(geom)
            if is_ap:
                # Portable supine/semi-erect films: shallower inspiration, magnified heart.
                sgeom["dome_r"] -= r.uniform(0.02, 0.05)
                sgeom["mag"] = r.uniform(1.08, 1.16)
            else:
                sgeom["mag"] = 1.0
            if f.emphysema:
                sgeom["dome_r"] += 0.05
                sgeom["lung_dark"] = min(0.97, sgeom["lung_dark"] + 0.08)
            st.images = [
                ImageSpec(
                    index=-1, dicom_id="", subject_id=sid, study_id=0, view=v, path="", size=cfg.image_size,
                    seed=cfg.seed, sex=sex, age=age,
                    geometry={**sgeom, "dx": r.normal(0, 0.012), "dy": r.normal(0, 0.01),
                              "gamma": r.uniform(0.85, 1.15), "noise": r.uniform(0.6, 1.4)},
                    findings=f,
                )
                for v in views
            ]
            p.studies.append(st)
            n_studies_total += 1
        patients.append(p)
    # Ids are drawn after the cohort so that every id is unique across the whole phantom.
    all_studies = [s for p in patients for s in p.studies]
    stids = study_ids(cfg.seed, len(all_studies), cfg.id_block)
    index = 0
    for s, stid in zip(all_studies, stids, strict=True):
        s.study_id = stid
        for im in s.images:
            im.study_id = stid
            im.index = index
            im.dicom_id = dicom_id(cfg.seed, index, cfg.id_block)
            im.path = image_path(im.subject_id, stid, im.dicom_id)
            index += 1
    _assign_bad_masks(cfg, patients)
    _assign_pose(cfg, patients)
    return patients


POSE: dict[str, dict[str, float]] = {
    # Acquisition variation per projection (standard deviations unless named otherwise). Portable AP films
    # are taken at the bedside: centred and collimated less carefully, the patient often rotated or
    # slumped, and less deeply inspired; PA films are taken standing at a wall detector by a technologist.
    # Values give lung-box spreads and mean-box IoUs in the range measured on real radiographs
    # (docs/phantom-geometry.md; checked by tests/phantom/test_geometry.py).
    "PA": {"log_scale": 0.055, "rot": 2.5, "shift_x": 0.036, "shift_y": 0.025, "inspiration": 0.02,
           "collimation_p": 0.35},  # collimation_p: about the share of films with a band
    "AP": {"log_scale": 0.07, "rot": 4.0, "shift_x": 0.045, "shift_y": 0.035, "inspiration": 0.025,
           "collimation_p": 0.5},
}
"""Pose spreads by view; laterals use the PA row."""


def _assign_pose(cfg: PhantomConfig, patients: list[Patient]) -> None:
    """Draw each image's acquisition pose (patient size against the field of view, rotation, centring,
    inspiration depth, collimation) into its geometry (keys read by ``anatomy.pose_matrix``,
    ``anatomy.frontal`` and ``render``).

    Drawn from a stream of its own, keyed by the image index, so the cohort's findings, ids and every
    other draw are those of a phantom without pose variation.
    """
    for im in (im for p in patients for s in p.studies for im in s.images):
        r = np.random.default_rng([cfg.seed, 13, im.index])
        k = POSE["AP" if im.view == "AP" else "PA"]
        g = im.geometry
        g["scale"] = float(np.exp(np.clip(r.normal(0, k["log_scale"]), -2.5 * k["log_scale"], 2.5 * k["log_scale"])))
        g["rot"] = float(np.clip(r.normal(0, k["rot"]), -3 * k["rot"], 3 * k["rot"]))
        g["tx"] = float(np.clip(r.normal(0, k["shift_x"]), -0.1, 0.1))
        g["ty"] = float(np.clip(r.normal(0, k["shift_y"]), -0.1, 0.1))
        # Depth of inspiration moves both hemidiaphragms together (the lungs' lower edge).
        g["dome_r"] = g["dome_r"] + float(np.clip(r.normal(0, k["inspiration"]), -0.07, 0.07))
        for side in ("col_l", "col_r", "col_t", "col_b"):
            g[side] = float(r.uniform(0.01, 0.05)) if r.random() < k["collimation_p"] / 4 else 0.0


def _assign_bad_masks(cfg: PhantomConfig, patients: list[Patient]) -> None:
    r = np.random.default_rng([cfg.seed, 2])
    for p in patients:
        for s in p.studies:
            for im in s.images:
                im.chexmask_bad = bool(im.frontal and r.random() < cfg.chexmask_bad_fraction)


def all_images(patients: list[Patient]) -> list[ImageSpec]:
    return [im for p in patients for s in p.studies for im in s.images]
