"""End to end: a tiny random LLaVA saved to disk, a hand-made built dataset, `imax evaluate`."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from PIL import Image

from imax.schema.records import ENTRY_COLUMNS, polars_schema
from imax.tasks import TASKS


def _dataset(root, n_images: int = 3, split: str = "test"):
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_images):
        dicom = f"{i:040x}"
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(root / "img" / f"{dicom}.png")
        labels = [["Cardiomegaly"], [], ["Cardiomegaly", "Edema"]][i % 3]
        for task, query, answer in [
            ("multilabel", {"label_space": "chexpert14"}, {"labels": labels}),
            ("calculation", {"measure": "ctr"}, {"value": 0.5}),
            (
                "vqa",
                {"question": "Is there an effusion?", "content_type": "presence", "semantic_type": "verify"},
                {"answers": ["yes"]},
            ),
        ]:
            rows.append(
                {
                    "id": f"{dicom}:{task}:0",
                    "dicom_id": dicom,
                    "subject_id": 10000000 + i,
                    "split": split,
                    "task": task,
                    "source": "test",
                    "query": json.dumps(query),
                    "answer": json.dumps(answer),
                    "instruction": TASKS[task].render_instruction(query, 0),
                    "response": TASKS[task].format_answer(query, answer),
                    "image": f"img/{dicom}.png",
                    "provenance": "real",
                }
            )
    pl.DataFrame(rows, schema=polars_schema(ENTRY_COLUMNS)).write_parquet(root / "entries.parquet")
    (root / "manifest.json").write_text(json.dumps({"id": "abc", "data_root": str(root)}))
    return root


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    from imax.model import build_model, save_base, train_tokenizer
    from imax.schema.config.model import ModelConfig
    from imax.tasks import TASK_TOKENS

    corpus = [spec.render_instruction(q, 0) for spec, q in [(TASKS["calculation"], {"measure": "ctr"})]] * 10
    tok = train_tokenizer([*corpus, "0.50 yes no"] * 5, TASK_TOKENS, vocab_size=300)
    cfg = ModelConfig.tiny(text={"num_layers": 1, "intermediate_size": 48, "max_position_embeddings": 256})
    return save_base(build_model(cfg, tok), tok, tmp_path_factory.mktemp("base"))


def test_cli_evaluate_writes_everything(tmp_path, base_dir):
    from imax.cli import main

    data = _dataset(tmp_path / "data")
    out = tmp_path / "eval"
    args = f"evaluate --model {base_dir} --data {data} --out {out} --batch-size 2 --bootstrap 30"
    rc = main([*args.split(), "--no-meteor", "--label-scores"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"calculation", "vqa", "multitask_average", "ci", "primary", "unavailable"}
    for task in ("calculation", "multilabel", "vqa"):
        assert 0.0 <= metrics[task]["parse_failure_rate"] <= 1.0 and metrics[task]["n"] == 3
    # --label-scores: ranking metrics from per-label log-likelihoods (Cardiomegaly, Edema vary here)
    assert 0.0 <= metrics["multilabel"]["chexpert14/auroc"] <= 1.0
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 9
    assert set(preds[0]) >= {
        "id",
        "dicom_id",
        "task",
        "prompt",
        "output",
        "parsed",
        "reference",
        "parse_status",
    }
    assert "| calculation |" in (out / "metrics.md").read_text()
    generation = metrics["meta"]["generation"]
    assert generation["decoder"] == "lean_greedy" and generation["batch_size"] == 2
    assert generation["seconds"] > 0 and generation["samples_per_s"] == pytest.approx(
        9 / generation["seconds"], rel=1e-2
    )
    # Re-scoring the written predictions gives the same numbers (deterministic, model-free).
    from imax.evaluate import score_predictions

    again = score_predictions(preds, TASKS, meteor=False, n_bootstrap=30, seed=0)
    assert again["multitask_average"] == pytest.approx(metrics["multitask_average"])


def test_images_encoded_once_give_the_same_predictions(tmp_path, base_dir):
    """Each test image carries three tasks (three batches): encoded once, the predictions are those of
    running the tower in every batch; the meta says which way it ran."""
    from imax.evaluate import evaluate_model
    from imax.schema.config.evaluate import EvalConfig

    data = _dataset(tmp_path / "data")
    runs = {}
    for name, gb in (("cached", 2.0), ("plain", 0.0)):
        cfg = EvalConfig(model=base_dir, data=data, out=tmp_path / name, batch_size=2, bootstrap=0,
                         meteor=False, vision_cache_gb=gb)  # fmt: skip
        metrics = evaluate_model(cfg)
        lines = (tmp_path / name / "predictions.jsonl").read_text().splitlines()
        runs[name] = [json.loads(line)["output"] for line in lines], metrics["meta"]["generation"]
    (cached, meta_cached), (plain, meta_plain) = runs["cached"], runs["plain"]
    assert cached == plain and len(cached) == 9
    assert meta_cached["vision_cache"]["images"] == 3
    assert meta_plain["vision_cache"] == {"off": "disabled (vision_cache_gb = 0)"}


def test_controls_beside_the_model(tmp_path, base_dir):
    """Trivial baselines fitted on another dataset's train split and the image-shuffled rerun: both
    written, scored by the same scorer, with paired CIs."""
    from imax.evaluate import evaluate_model
    from imax.schema.config.evaluate import EvalConfig

    data, train = _dataset(tmp_path / "data"), _dataset(tmp_path / "train", n_images=4, split="train")
    out = tmp_path / "eval"
    metrics = evaluate_model(EvalConfig(model=base_dir, data=data, out=out, batch_size=2, bootstrap=40,
                                        meteor=False, baseline_data=train))  # fmt: skip
    tb, sh = metrics["trivial_baseline"], metrics["shuffled_image"]
    assert tb["n_train"] == {"calculation": 4, "multilabel": 4, "vqa": 4} and tb["train_data"] == str(train)
    # Train answers: CTR 0.5 everywhere, "yes" to the one question: the baseline is exact on both.
    assert tb["tasks"]["calculation"]["value"] == 0.0 and tb["tasks"]["vqa"]["value"] == 1.0
    assert tb["tasks"]["calculation"]["diff"] == pytest.approx(metrics["scores"]["calculation"] - 1.0)
    assert len(tb["tasks"]["vqa"]["diff_ci"]) == 2 and "multitask_average" in tb
    base_preds = [json.loads(line) for line in (out / "baseline_predictions.jsonl").read_text().splitlines()]
    assert {p["output"] for p in base_preds if p["task"] == "calculation"} == {"0.50"}
    shuffled = [json.loads(line) for line in (out / "shuffled_predictions.jsonl").read_text().splitlines()]
    assert len(shuffled) == 9 and all(p["shown_dicom_id"] != p["dicom_id"] for p in shuffled)
    assert sh["n_images"] == 3 and set(sh["tasks"]) == {"calculation", "multilabel", "vqa"}
    md = (out / "metrics.md").read_text()
    assert "## Trivial baselines" in md and "## Image-shuffled" in md and "median train value per measure" in md


def test_a_missing_baseline_dataset_fails_before_generation(tmp_path, base_dir):
    from imax.evaluate import evaluate_model
    from imax.schema.config.evaluate import EvalConfig
    from imax.schema.errors import MissingPathError

    cfg = EvalConfig(model=base_dir, data=_dataset(tmp_path / "data"), out=tmp_path / "eval", bootstrap=0,
                     meteor=False, baseline_data=tmp_path / "nowhere")  # fmt: skip
    with pytest.raises(MissingPathError, match=r"nowhere: no entries\.parquet"):
        evaluate_model(cfg)
    assert not (tmp_path / "eval" / "predictions.jsonl").exists()
