"""Data fixtures: a small tokenizer (imax.model's trainer), tiny PNG/JPEG images and a built-dataset dir."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imax.model import train_tokenizer

TASK_TOKENS = ("[calculate]", "[report]", "[vqa]")
CORPUS = [
    "[calculate] What is the cardiothoracic ratio of this image?",
    "The cardiothoracic ratio is 0.52.",
    "[report] Write the findings of this chest X-ray.",
    "The heart is enlarged. Small left pleural effusion. No pneumothorax.",
    "[vqa] Is there an effusion? yes no",
] * 20


@pytest.fixture(scope="session")
def tokenizer():
    return train_tokenizer(CORPUS, TASK_TOKENS, vocab_size=320)


def entry(k: int, split: str = "train", response: str = "The cardiothoracic ratio is 0.52.") -> dict:
    return {
        "id": f"d{k}:calculation:0",
        "dicom_id": f"d{k}",
        "subject_id": 10000000 + k,
        "split": split,
        "task": "calculation",
        "source": "hand",
        "query": '{"measure": "ctr"}',
        "answer": '{"value": 0.52}',
        "instruction": "[calculate] What is the cardiothoracic ratio?",
        "response": response,
        "image": f"images/img{k}.png",
        "provenance": "real",
    }


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    """entries.parquet (3 train + 1 val) + manifest.json + 4 PNGs of different sizes."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    rows = []
    for k in range(4):
        arr = rng.integers(0, 256, size=(40 + 8 * k, 36), dtype=np.uint8)
        Image.fromarray(arr, mode="L").save(tmp_path / "images" / f"img{k}.png")
        rows.append(
            entry(k, "val" if k == 3 else "train", response="yes" if k == 1 else "The ratio is 0.52.")
        )
    pd.DataFrame(rows).to_parquet(tmp_path / "entries.parquet", index=False)
    (tmp_path / "manifest.json").write_text(json.dumps({"id": "m", "data_root": str(tmp_path)}))
    return tmp_path
