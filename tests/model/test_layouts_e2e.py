"""Published LLaVA layouts end to end: ``imax train`` → ``evaluate`` → ``fisher`` → ``export``, then plain
transformers (``AutoProcessor`` + ``LlavaForConditionalGeneration.generate``) on the export reproduces
imax's greedy answers token for token.

The checkpoints are tiny random-weight copies of llava-1.5 (CLIP + Llama), llava-interleave-qwen-style
(SigLIP + Qwen2, ChatML) and llava-v1.6-mistral-style (CLIP + Mistral, ``[INST]``) layouts
(:mod:`model.layouts`). The llava-1.5 case runs by default; the other two are ``slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imax.cli import main
from imax.data import ImageSpec, load_image, pad_to_square
from train.conftest import make_dataset

from .layouts import build_layout

TASKS = ("calculation", "vqa")


def _portrait_films(data: Path) -> None:
    """Make the dataset's films non-square (40 x 32 portrait): the pad-to-square path is exercised."""
    rng = np.random.default_rng(1)
    for path in sorted((data / "images").glob("*.png")):
        arr = np.asarray(Image.open(path))
        tall = np.concatenate([arr, rng.integers(0, 60, (8, arr.shape[1]), dtype=np.uint8)], axis=0)
        Image.fromarray(tall, mode="L").save(path)


def _reference_answers(export: Path, data: Path, rows: list[dict]) -> list[str]:
    """Greedy answers of the export with plain transformers: the processor's chat template and image
    processor on the film padded to square (the documented geometry), ``model.generate``."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from imax.tasks import TASKS as SPECS

    processor = AutoProcessor.from_pretrained(export, local_files_only=True)
    model = LlavaForConditionalGeneration.from_pretrained(export, local_files_only=True).eval()
    spec = ImageSpec.from_processor(processor.image_processor)
    root = Path(json.loads((data / "manifest.json").read_text())["data_root"])
    entries = {e["id"]: e for e in _entries(data)}
    out = []
    for row in rows:
        entry = entries[row["id"]]
        film = Image.fromarray(pad_to_square(load_image(root / entry["image"]), spec.fill)).convert("RGB")
        conversation = [{"role": "user", "content": [{"type": "image", "image": film},
                                                     {"type": "text", "text": entry["instruction"]}]}]
        inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                               return_dict=True, return_tensors="pt")
        with torch.no_grad():
            ids = model.generate(**inputs, max_new_tokens=SPECS[entry["task"]].max_new_tokens, do_sample=False)
        new = ids[0, inputs["input_ids"].shape[1]:]
        out.append(processor.tokenizer.decode(new, skip_special_tokens=True).strip())
    return out


def _entries(data: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(data / "entries.parquet").to_pylist()


def _run(layout: str, tmp: Path) -> None:
    data = make_dataset(tmp / "data", n_images=5, n_val=1, size=32)
    _portrait_films(data)
    corpus = [e["instruction"] for e in _entries(data)] + [e["response"] for e in _entries(data)]
    base = build_layout(layout, tmp / "base", corpus)
    run, ev, export = tmp / "run", tmp / "eval", tmp / "export"
    assert main(["train", "--data", str(data), "--base", str(base), "--out", str(run), "--max-steps", "4",
                 "--batch-size", "4", "--lr", "1e-4", "--model.lora.r", "4", "--model.lora.dropout", "0",
                 "--no-progress"]) == 0
    cfg = json.loads(json.dumps(__import__("yaml").safe_load((run / "config.yaml").read_text())))
    interface = json.loads((run / "interface.json").read_text())
    base_cfg = json.loads((base / "config.json").read_text())
    # config.yaml records the checkpoint's real settings, not the tiny defaults
    assert cfg["model"]["vision"]["image_size"] == base_cfg["vision_config"]["image_size"]
    assert cfg["model"]["vision"]["num_channels"] == 3
    assert cfg["model"]["vocab_size"] == base_cfg["text_config"]["vocab_size"]
    assert cfg["max_length"] > interface["num_image_tokens"] == 16
    assert interface["image"]["channels"] == 3 and "image" in interface["chat_template"]

    final = run / "checkpoints" / "final"
    assert main(["evaluate", "--model", str(final), "--data", str(data), "--split", "val", "--out", str(ev),
                 "--tasks", ",".join(TASKS), "--bootstrap", "0", "--no-meteor", "--batch-size", "4"]) == 0
    rows = [json.loads(line) for line in (ev / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == len(TASKS)
    assert main(["fisher", "--run", str(run), "--data", str(data), "--checkpoints", "initial,late",
                 "--n-probe", "4", "--k", "2", "--batch-size", "2", "--no-plot"]) == 0
    fisher = json.loads((run / "fisher.json").read_text())
    records = fisher["records"] if isinstance(fisher, dict) else fisher
    assert len(records) == 2
    assert main(["export", "--checkpoint", str(final), "--out", str(export)]) == 0
    assert (export / "processor_config.json").is_file() or (export / "preprocessor_config.json").is_file()
    assert json.loads((export / "interface.json").read_text())["image"]["geometry"] == "pad-to-square+resize"

    reference = _reference_answers(export, data, rows)
    ours = [r["output"] for r in rows]
    assert any(ours), "every imax answer is empty: the comparison would be vacuous"
    assert ours == reference


def test_llava15_layout_trains_evaluates_fishers_exports_and_matches_plain_transformers(tmp_path):
    _run("llava15", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["siglip_qwen2", "clip_mistral"])
def test_other_published_layouts_end_to_end(layout, tmp_path):
    _run(layout, tmp_path)
