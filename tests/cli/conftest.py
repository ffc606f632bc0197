"""Shared fixtures of the end-to-end CLI tests: a tiny DMAX-like built dataset (one task per train image, so
pseudo-labelling has missing tasks to fill) and one short training run of each checkpoint kind imax
writes (``--finetune lora`` and ``--finetune full``) on the same tiny base; and ``smoke``, a checkpoint
trained until it answers every task in format (``smoke_model``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from imax.schema.config.model import ModelConfig
from imax.schema.config.train import TrainConfig
from imax.schema.records import ANNOTATION_COLUMNS, ENTRY_COLUMNS, IMAGE_COLUMNS, polars_schema

from .smoke_model import Smoke, train_smoke

QUERIES = {
    "calculation": ({"measure": "ctr"}, lambda k: {"value": round(0.40 + 0.03 * k, 2)}),
    "multilabel": ({"label_space": "chexpert14"}, lambda k: {"labels": ["Cardiomegaly"] if k % 2 else ["No Finding"]}),
    "vqa": ({"question": "is the heart enlarged?", "content_type": "presence", "semantic_type": "verify"},
            lambda k: {"answers": ["yes" if k % 2 else "no"]}),
    "report": ({}, lambda k: {"text": "heart is enlarged." if k % 2 else "heart normal. lungs clear."}),
}  # fmt: skip


def make_dmax(root: Path, n_train: int = 8, n_val: int = 2, size: int = 32) -> Path:
    """A built-dataset directory by hand, DMAX-like: train image k carries one task (round robin), val
    images carry every task. Has entries/images/annotations parquet, manifest.json and stats.json."""
    from imax.tasks import TASKS

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    tasks = list(QUERIES)
    entries, images, annotations = [], [], []
    for k in range(n_train + n_val):
        img = rng.integers(0, 60, size=(size, size), dtype=np.uint8)
        if k % 2:
            img[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] += 150
        Image.fromarray(img, mode="L").save(root / "images" / f"img{k}.png")
        split = "train" if k < n_train else "val"
        dicom = f"d{k}"
        images.append({"dicom_id": dicom, "subject_id": 100 + k, "study_id": 500 + k, "view": "PA",
                       "split": split, "path": f"images/img{k}.png", "height": size, "width": size})
        for task in ([tasks[k % len(tasks)]] if split == "train" else tasks):
            query, answer = QUERIES[task][0], QUERIES[task][1](k)
            q, a = json.dumps(query), json.dumps(answer)
            entries.append({"id": f"{dicom}:{task}:0", "dicom_id": dicom, "subject_id": 100 + k, "split": split,
                            "task": task, "source": "hand", "query": q, "answer": a,
                            "instruction": TASKS[task].render_instruction(query, k),
                            "response": TASKS[task].format_answer(query, answer), "image": f"images/img{k}.png",
                            "provenance": "real"})
            annotations.append({"dicom_id": dicom, "task": task, "source": "hand", "query": q, "answer": a,
                                "meta": "{}"})
    pl.DataFrame(entries, schema=polars_schema(ENTRY_COLUMNS)).write_parquet(root / "entries.parquet")
    pl.DataFrame(images, schema=polars_schema(IMAGE_COLUMNS)).write_parquet(root / "images.parquet")
    pl.DataFrame(annotations, schema=polars_schema(ANNOTATION_COLUMNS)).write_parquet(root / "annotations.parquet")
    (root / "manifest.json").write_text(json.dumps({"id": "tiny-dmax-0001", "data_root": str(root.resolve())}))
    (root / "stats.json").write_text(json.dumps({"mode": "dmax", "entries": len(entries)}))
    return root


def tiny_model() -> ModelConfig:
    return ModelConfig.tiny(text_max_position_embeddings=160)


def tiny_train(data: Path, out: Path, **overrides) -> TrainConfig:
    """4 optimizer steps of batch 4 on the tiny model, the four Fisher checkpoints written."""
    cfg = TrainConfig(data=data, out=out, model=tiny_model(), max_steps=4, batch_size=4, max_length=128,
                      lr=5e-3, warmup_ratio=0.0, save_every_steps=0, log_every_steps=1, progress=False, seed=0)
    return dataclasses.replace(cfg, **overrides)


@dataclasses.dataclass
class Runs:
    data: Path
    lora: Path
    full: Path
    base: Path


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """A LoRA run (which builds the tiny base) and a full fine-tune of that base, 4 steps each."""
    import torch

    from imax.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("kinds")
        data = make_dmax(root / "data")
        lora = train(tiny_train(data, root / "lora"))
        full = train(tiny_train(data, root / "full", finetune="full", base=lora.out / "base", lr=1e-3))
    finally:
        torch.set_num_threads(threads)
    return Runs(data=data, lora=lora.out, full=full.out, base=lora.out / "base")


@pytest.fixture(scope="session")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Smoke:
    """A checkpoint trained until it answers every task in format (ask / predict / demo tests)."""
    return train_smoke(tmp_path_factory.mktemp("smoke"))
