"""Shared fixtures: a tiny hand-made built dataset (entries.parquet + manifest.json + PNGs) and a tiny
TrainConfig (a model of a few thousand parameters: every test here trains in seconds on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from imax.schema.config.model import ModelConfig
from imax.schema.config.train import TrainConfig

RESPONSES = {
    "calculation": lambda k: f"{0.40 + 0.03 * k:.2f}",
    "report": lambda k: "heart is enlarged. small effusion." if k % 2 else "heart normal. lungs clear.",
    "multilabel": lambda k: "Cardiomegaly, Pleural Effusion" if k % 2 else "No Finding",
    "vqa": lambda k: "yes" if k % 2 else "no",
}


ANSWERS = {  # response text -> answer payload, as schema.records documents them
    "calculation": lambda r: {"value": float(r)},
    "report": lambda r: {"text": r},
    "multilabel": lambda r: {"labels": r.split(", ")},
    "vqa": lambda r: {"answers": [r]},
}


def make_dataset(root: Path, n_images: int = 8, n_val: int = 2, size: int = 32) -> Path:
    """A built-dataset directory by hand: ``n_images`` PNGs x 4 tasks; the last ``n_val`` images are val."""
    from imax.tasks import TASKS

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n_images):
        img = rng.integers(0, 60, size=(size, size), dtype=np.uint8)
        if k % 2:  # "cardiomegaly": a big bright blob the encoder can see
            img[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] += 150
        Image.fromarray(img, mode="L").save(root / "images" / f"img{k}.png")
        split = "val" if k >= n_images - n_val else "train"
        for task, respond in RESPONSES.items():
            query = {"calculation": {"measure": "ctr"}, "report": {}, "multilabel": {"label_space": "chexpert14"},
                     "vqa": {"question": "is the heart enlarged?", "content_type": "", "semantic_type": ""}}[task]
            rows.append({
                "id": f"d{k}:{task}:0", "dicom_id": f"d{k}", "subject_id": 10000000 + k, "split": split,
                "task": task, "source": "hand", "query": json.dumps(query), "answer": json.dumps(ANSWERS[task](respond(k))),
                "instruction": TASKS[task].render_instruction(query, k), "response": respond(k),
                "image": f"images/img{k}.png", "provenance": "real",
            })
    pd.DataFrame(rows).to_parquet(root / "entries.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"id": "tiny-manifest-0001", "data_root": str(root.resolve())}))
    (root / "stats.json").write_text(json.dumps({"entries": len(rows)}))
    return root


def tiny_model(dropout: float = 0.0) -> ModelConfig:
    return ModelConfig.tiny(lora_dropout=dropout)


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    cfg = TrainConfig(data=data, out=out, model=tiny_model(overrides.pop("dropout", 0.0)), epochs=2,
                      batch_size=4, grad_accum=1, max_length=96, lr=5e-3, warmup_ratio=0.1,
                      save_every_steps=0, log_every_steps=1, progress=False, seed=0)
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine: more threads only spin against other processes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("tinydata"))


@pytest.fixture(scope="session")
def pool_phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-patient phantom in the pretraining id block (64 px): the pool of the pretraining tests."""
    from imax.phantom import generate
    from imax.schema.config.phantom import PhantomConfig

    out = tmp_path_factory.mktemp("pool")
    generate(PhantomConfig(out=out, patients=12, seed=9001, image_size=64, workers=1, id_block="pretrain"))
    return out
