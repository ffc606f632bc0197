"""Linear probes on a frozen vision tower: does the pretrained encoder carry what the tasks need?

A probe fits a linear model on mean-pooled last-layer patch features of the pool's train images and
scores it on held-out pool images (patients never trained on), once for the pretrained encoder and once
for the same architecture at its random initialisation. Targets are the phantom pool's truth (never
task entries):

* findings (``labels``): logistic regression on the noise-free finding classes, AUROC per label;
* measurements (CTR, CPAR): ridge regression, R² and MAE;
* regions (heart, left/right/both lungs): ridge regression of the normalised box corners, mean IoU and
  accuracy at IoU >= 0.5 and >= 0.75, next to the mean train box (the prior a model must beat).

Why several targets: a random ViT followed by a linear read-out is already a strong detector of
*global* intensity findings (an effusion brightens a lung base, whatever the features), so AUROC alone
says little about an encoder; where a finding must be *located or measured* (a box, a ratio of widths)
the random features have much less to offer. All regularisation strengths are chosen by
cross-validation on the train images only (regressions; the classifier's is fixed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from imax.schema.box import Box
from imax.train.vision import FINDINGS, MEASURES, VisionTargets


@torch.no_grad()
def vision_features(model: torch.nn.Module, pixels: torch.Tensor, batch: int = 32) -> np.ndarray:
    """Mean-pooled last-layer patch features of the vision tower: ``(N, 1, S, S)`` → ``(N, D)``."""
    model.eval()
    tower = model.model.vision_tower if hasattr(model, "model") else model.vision_tower
    out = [tower(pixel_values=pixels[i : i + batch]).last_hidden_state[:, 1:].mean(1) for i in range(0, len(pixels), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, int(tower.config.hidden_size)), dtype=np.float32)


def box_iou(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 4)`` normalised xyxy boxes, row by row (:meth:`Box.iou`, the project's one IoU); a
    regression can predict an inverted box (x2 < x1), which is no box and scores 0."""
    return np.array([
        Box(*p, 1, 1).iou(Box(*t, 1, 1)) if p[2] >= p[0] and p[3] >= p[1] else 0.0
        for p, t in zip(pred.tolist(), truth.tolist(), strict=True)
    ], dtype=float)


def _classifier(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # fixed, fairly strong L2 (not CV): a held-out finding may have only a handful of positives
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000, random_state=seed))


def _regressor() -> Any:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))


def _findings(feats: dict[str, dict[str, np.ndarray]], t: dict[str, VisionTargets], labels: tuple[str, ...],
              seed: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    out: dict[str, Any] = {}
    for label in labels:
        j = FINDINGS.index(label)
        ytr = t["train"].findings[:, j].numpy().astype(int)
        yte = t["test"].findings[:, j].numpy().astype(int)
        row: dict[str, Any] = {"train_positives": int(ytr.sum()), "test_positives": int(yte.sum()),
                               "test_images": len(yte)}
        if len(set(ytr)) < 2 or len(set(yte)) < 2:
            row["note"] = "one class only in the probe train or test images"
        else:
            for name, f in feats.items():
                clf = _classifier(seed).fit(f["train"], ytr)
                row[name] = float(roc_auc_score(yte, clf.predict_proba(f["test"])[:, 1]))
        out[label] = row
    return out


def _measures(feats: dict[str, dict[str, np.ndarray]], t: dict[str, VisionTargets]) -> dict[str, Any]:
    from sklearn.metrics import r2_score

    out: dict[str, Any] = {}
    for j, measure in enumerate(MEASURES):
        ytr, yte = t["train"].measures[:, j].numpy(), t["test"].measures[:, j].numpy()
        mtr, mte = ~np.isnan(ytr), ~np.isnan(yte)
        row: dict[str, Any] = {"train_images": int(mtr.sum()), "test_images": int(mte.sum())}
        if mtr.sum() < 10 or mte.sum() < 2:
            row["note"] = "too few images with this measurement"
        else:
            for name, f in feats.items():
                pred = _regressor().fit(f["train"][mtr], ytr[mtr]).predict(f["test"][mte])
                row[name] = {"r2": float(r2_score(yte[mte], pred)), "mae": float(np.abs(pred - yte[mte]).mean())}
        out[measure] = row
    return out


def _regions(feats: dict[str, dict[str, np.ndarray]], t: dict[str, VisionTargets]) -> dict[str, Any]:
    from imax.schema.records import REGIONS

    out: dict[str, Any] = {}
    for k, region in enumerate(REGIONS):
        ytr, yte = (t[s].boxes[:, 4 * k : 4 * k + 4].numpy() for s in ("train", "test"))
        mtr, mte = ~np.isnan(ytr).any(1), ~np.isnan(yte).any(1)
        row: dict[str, Any] = {"train_images": int(mtr.sum()), "test_images": int(mte.sum())}
        if mtr.sum() < 10 or mte.sum() < 2:
            row["note"] = "too few images with this box"
        else:
            prior = np.repeat(ytr[mtr].mean(0, keepdims=True), int(mte.sum()), axis=0)
            iou = box_iou(prior, yte[mte])
            row["mean_train_box"] = {"mean_iou": float(iou.mean()), "acc_iou_0.5": float((iou >= 0.5).mean()),
                                     "acc_iou_0.75": float((iou >= 0.75).mean())}
            for name, f in feats.items():
                pred = np.clip(_regressor().fit(f["train"][mtr], ytr[mtr]).predict(f["test"][mte]), 0.0, 1.0)
                iou = box_iou(pred, yte[mte])
                row[name] = {"mean_iou": float(iou.mean()), "acc_iou_0.5": float((iou >= 0.5).mean()),
                             "acc_iou_0.75": float((iou >= 0.75).mean())}
        out[region] = row
    return out


def probe_report(pretrained: torch.nn.Module, initial: torch.nn.Module, train: VisionTargets,
                 test: VisionTargets, labels: tuple[str, ...], seed: int = 0) -> dict[str, Any]:
    """Probe scores, pretrained vs initial encoder: fitted on ``train``, scored on ``test`` (held-out
    patients of the pool).

    Returns ``{"train_images", "test_images", "auroc": {label: {...}}, "measures": {ctr|cpar: {...}},
    "regions": {region: {...}}, "pretrained_better": {"findings", "measures", "regions": bool}}``;
    each scored row holds ``pretrained`` and ``initial`` values (regions also ``mean_train_box``).
    """
    targets = {"train": train, "test": test}
    report: dict[str, Any] = {"labels": list(labels), "features": "mean-pooled last-layer patch tokens",
                              "targets": "the pool phantom's truth (truth.parquet), never task entries",
                              "train_images": len(train.images), "test_images": len(test.images)}
    if not train.images or not test.images:
        report["note"] = "no images in one of the probe splits"
        return report
    feats = {name: {s: vision_features(m, targets[s].pixels) for s in targets}
             for name, m in (("pretrained", pretrained), ("initial", initial))}
    report["auroc"] = _findings(feats, targets, labels, seed)
    report["measures"] = _measures(feats, targets)
    report["regions"] = _regions(feats, targets)

    def better(rows: dict[str, Any], key: str | None) -> bool:
        scored = [r for r in rows.values() if "pretrained" in r]
        value = (lambda v: v) if key is None else (lambda v: v[key])
        return bool(scored) and all(value(r["pretrained"]) > value(r["initial"]) for r in scored)

    report["pretrained_better"] = {"findings": better(report["auroc"], None),
                                   "measures": better(report["measures"], "r2"),
                                   "regions": better(report["regions"], "mean_iou")}
    return report


__all__ = ["box_iou", "probe_report", "vision_features"]
