"""Findings are in the pixels, at their location (matched renders: same patient, same noise)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imax.phantom import anatomy
from imax.phantom.cohort import Findings, ImageSpec, all_images, sample_cohort
from imax.phantom.render import render
from imax.schema.config.phantom import PhantomConfig

S = 128


@pytest.fixture(scope="module")
def normals() -> list[ImageSpec]:
    ims = all_images(sample_cohort(PhantomConfig(patients=60, seed=3, image_size=S)))
    out = [im for im in ims if im.view == "PA" and im.findings.positives()["No Finding"]
           and not im.findings.support_devices]
    assert len(out) >= 8
    return out[:8]


def with_findings(im: ImageSpec, **kw: object) -> ImageSpec:
    return dataclasses.replace(im, findings=dataclasses.replace(im.findings, **kw))


def region_mean(img: np.ndarray, cx: float, cy: float, r: float) -> float:
    y0, y1 = int((cy - r) * S), int((cy + r) * S)
    x0, x1 = int((cx - r) * S), int((cx + r) * S)
    return float(img[max(0, y0) : y1, max(0, x0) : x1].mean())


def test_effusion_brightens_costophrenic_region(normals):
    diffs = []
    for im in normals:
        fr = anatomy.frontal(im.geometry, im.findings)
        (cx, _), dome = fr.cps[0], fr.domes[0]
        base = render(im).image
        eff = render(with_findings(im, effusion_right=2)).image
        # Between the angle and the dome, laterally: air in the normal film, fluid with the effusion.
        diffs.append(region_mean(eff, cx + 0.06, dome + 0.01, 0.04) - region_mean(base, cx + 0.06, dome + 0.01, 0.04))
    assert np.mean(diffs) > 25 and min(diffs) > 5


def test_heart_mask_width_tracks_ctr(normals):
    for im in normals:
        for ratio in (0.42, 0.6):
            rd = render(with_findings(im, heart_ratio=ratio, cardiomegaly=ratio > 0.5))
            heart, lungs = rd.masks["heart"], rd.masks["left_lung"] | rd.masks["right_lung"]
            hx, lx = np.nonzero(heart.any(0))[0], np.nonzero(lungs.any(0))[0]
            ctr = (hx[-1] - hx[0] + 1) / (lx[-1] - lx[0] + 1)
            assert abs(ctr - ratio) < 0.03


def test_edema_grade_raises_perihilar_intensity(normals):
    means = np.zeros((len(normals), 4))
    for i, im in enumerate(normals):
        fr = anatomy.frontal(im.geometry, im.findings)
        for g in range(4):
            img = render(with_findings(im, edema_grade=g)).image
            means[i, g] = np.mean([region_mean(img, hx + sd * 0.07, hy + 0.04, 0.04)
                                   for sd, (hx, hy) in zip((-1, 1), fr.hila, strict=True)])
    avg = means.mean(axis=0)
    assert np.all(np.diff(avg) > 1.0), avg
    assert avg[3] - avg[0] > 15


def test_pneumothorax_darkens_apex_and_nodule_is_bright(normals):
    d_ptx, d_nod = [], []
    for im in normals:
        base = render(im).image
        ptx = render(with_findings(im, pneumothorax_side="right", pneumothorax_size=3))
        b = ptx.boxes["pneumothorax"]
        x0, y0, x1, y1 = (int(v) for v in b)
        d_ptx.append(float(ptx.image[y0:y1, x0:x1].mean()) - float(base[y0:y1, x0:x1].mean()))
        nod = render(with_findings(im, nodule_side="left", nodule_zone="middle", nodule_mm=25.0))
        x0, y0, x1, y1 = (int(v) for v in nod.boxes["nodule"])
        d_nod.append(float(nod.image[y0:y1, x0:x1].mean()) - float(base[y0:y1, x0:x1].mean()))
    assert np.mean(d_ptx) < -3 and np.mean(d_nod) > 5


def test_lateral_renders_without_masks():
    ims = all_images(sample_cohort(PhantomConfig(patients=10, seed=1, image_size=S)))
    lat = next(im for im in ims if not im.frontal)
    rd = render(lat)
    assert rd.image.shape == (S, S) and rd.image.dtype == np.uint8 and not rd.masks
    assert rd.image.std() > 20


def test_findings_defaults_are_no_finding():
    assert Findings().positives()["No Finding"]
