"""A smoke-trained checkpoint for the ask / predict / demo tests: a tiny LLaVA with LoRA trained for a
few hundred steps on a hand-made dataset of all seven tasks (six 64-px images), so that it answers in
each task's format. Built once per test session (~20 s on one core)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

SIZE = 64
PHRASES = ("heart", "left lung")


def _image(k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    img = rng.integers(0, 50, size=(SIZE, SIZE), dtype=np.uint8)
    img[16:48, 8:28] += 120  # a "lung"
    img[16:48, 36:56] += 120
    img[30:50, 24 + k % 3 : 42 + k % 3] += 80  # a "heart" that moves a little
    return img


def _box(phrase: str, k: int) -> dict:
    x1, y1, x2, y2 = (24 + k % 3, 30, 42 + k % 3, 50) if phrase == "heart" else (36, 16, 56, 48)
    return {"box": [x1, y1, x2, y2], "size": [SIZE, SIZE]}


def _pairs(k: int) -> list[tuple[str, dict, dict]]:
    heart = _box("heart", k)
    return [
        ("calculation", {"measure": "ctr"}, {"value": 0.45 + 0.05 * (k % 2)}),
        ("report", {}, {"text": "The heart is enlarged." if k % 2 else "The lungs are clear."}),
        ("multiclass", {"label_space": "edema_severity"}, {"grade": k % 2}),
        ("multilabel", {"label_space": "chexpert14"}, {"labels": ["Cardiomegaly"] if k % 2 else ["No Finding"]}),
        ("rec", {"phrase": "heart", "size": [SIZE, SIZE]}, heart),
        ("rec", {"phrase": "left lung", "size": [SIZE, SIZE]}, _box("left lung", k)),
        ("reg", heart, {"phrase": "heart"}),
        ("vqa", {"question": "is the heart enlarged?", "content_type": "", "semantic_type": ""},
         {"answers": ["yes" if k % 2 else "no"]}),
    ]


def make_dataset(root: Path, n_images: int = 6) -> Path:
    """Built-dataset layout by hand: PNGs, entries.parquet (train + one test image), manifest.json."""
    from imax.tasks import TASKS

    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n_images):
        Image.fromarray(_image(k), mode="L").save(root / "images" / f"img{k}.png")
        for j, (task, query, answer) in enumerate(_pairs(k)):
            spec = TASKS[task]
            rows.append({
                "id": f"d{k}:{task}:{j}", "dicom_id": f"d{k}", "subject_id": 10000000 + k,
                "split": "test" if k == n_images - 1 else "train", "task": task, "source": "hand",
                "query": json.dumps(query), "answer": json.dumps(answer),
                "instruction": spec.render_instruction(query, 0), "response": spec.format_answer(query, answer),
                "image": f"images/img{k}.png", "provenance": "real",
            })
    pd.DataFrame(rows).to_parquet(root / "entries.parquet", index=False)
    (root / "manifest.json").write_text(json.dumps({"id": "smoke-manifest-0001", "data_root": str(root.resolve())}))
    (root / "stats.json").write_text(json.dumps({"entries": len(rows)}))
    return root


@dataclass(frozen=True)
class Smoke:
    data: Path
    """The hand-made dataset (its test split is img5)."""
    full: Path
    """Stage 1 run: every parameter trained (``checkpoints/final/model``)."""
    lora: Path
    """Stage 2 run: a LoRA adapter on stage 1's model (``checkpoints/final/adapter`` + base.json)."""


def train_smoke(root: Path, steps: int = 240, lora_steps: int = 8) -> Smoke:
    """Stage 1 trains the tiny model fully until it answers in every task's format (a random base
    under LoRA alone barely moves in a few hundred steps); stage 2 puts a briefly trained LoRA adapter
    on it, the layout of the study's runs."""
    import torch

    from imax.schema.config.model import ModelConfig
    from imax.schema.config.train import TrainConfig
    from imax.train import train

    data = make_dataset(root / "data")
    model = ModelConfig.tiny(
        text={"hidden_size": 48, "intermediate_size": 96, "max_position_embeddings": 160}, vocab_size=320
    )
    common = dict(data=data, model=model, epochs=1000, batch_size=8, grad_accum=1, max_length=128,
                  warmup_ratio=0.05, save_every_steps=0, log_every_steps=20, progress=False, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(out=root / "full", finetune="full", max_steps=steps, lr=3e-3, **common))
        train(TrainConfig(out=root / "lora", base=root / "full" / "checkpoints" / "final" / "model",
                          max_steps=lora_steps, lr=1e-4, **common))
    finally:
        torch.set_num_threads(threads)
    return Smoke(data, root / "full", root / "lora")
