"""Findings are learnable from pixels: a linear model on 32×32 thumbnails separates them (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imax.phantom import generate
from imax.schema.config.phantom import PhantomConfig


@pytest.mark.slow
def test_linear_probe_on_thumbnails(tmp_path: Path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    generate(PhantomConfig(out=tmp_path, patients=400, seed=11, image_size=128, workers=2))
    t = pd.read_parquet(tmp_path / "truth.parquet")
    t = t[t["frontal"]].reset_index(drop=True)
    x = np.stack([np.asarray(Image.open(tmp_path / p).resize((32, 32)), dtype=np.float32).ravel() / 255
                  for p in t["path"]])
    targets = {
        "cardiomegaly": (t["cardiomegaly"], 0.9),
        "effusion": ((t["effusion_left"] + t["effusion_right"]) > 0, 0.75),
        "edema>=2": (t["edema_grade"] >= 2, 0.8),
    }
    for name, (y, floor) in targets.items():
        y = np.asarray(y, dtype=int)
        p = cross_val_predict(LogisticRegression(C=0.05, max_iter=2000), x, y, cv=5, method="predict_proba")[:, 1]
        assert roc_auc_score(y, p) > floor, name
