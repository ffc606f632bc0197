import json

import polars as pl
import pytest

from imax.data import ModelInterface
from imax.model import make_processor
from imax.pseudo.label import derive, keep_confident, query_entries
from imax.tasks import TASKS


def test_keep_confident_applies_per_task_thresholds_and_drops_unparseable():
    rows = [
        {"id": "1", "task": "vqa", "parsed": {"answers": ["yes"]}, "confidence": -0.1},
        {"id": "2", "task": "vqa", "parsed": {"answers": ["no"]}, "confidence": -0.9},
        {"id": "3", "task": "report", "parsed": {"text": "x"}, "confidence": -0.9},
        {"id": "4", "task": "report", "parsed": None, "confidence": None},
    ]
    kept = keep_confident(rows, {"vqa": -0.5, "report": -1.0})
    assert [r["id"] for r in kept] == ["1", "3"]


def test_derive_reg_turns_a_pseudo_box_into_a_reg_entry():
    rec = {
        "id": "img:rec:pseudo0", "dicom_id": "img", "subject_id": 1, "split": "train", "task": "rec",
        "source": "pseudo", "query": json.dumps({"phrase": "heart", "size": [200, 100]}),
        "parsed": {"box": [20.0, 10.0, 100.0, 50.0], "size": [200, 100]}, "image": "x.jpg",
        "provenance": "pseudo", "confidence": -0.2, "output": "{<10><10><50><50>}",
    }
    (reg,) = derive([rec], seed=0)
    assert reg["task"] == "reg" and reg["id"] == "img:reg:pseudo0"
    assert json.loads(reg["query"]) == {"box": [20.0, 10.0, 100.0, 50.0], "size": [200, 100]}
    assert json.loads(reg["answer"]) == {"phrase": "heart"} and reg["response"] == "heart"
    assert reg["instruction"].startswith(TASKS["reg"].token) and "{<10><10><50><50>}" in reg["instruction"]
    assert reg["confidence"] == -0.2 and reg["provenance"] == "pseudo"


def test_query_entries_render_instructions_from_the_task_table():
    q = pl.DataFrame({"dicom_id": ["a"], "subject_id": [1], "task": ["calculation"],
                      "query": [json.dumps({"measure": "ctr"})], "image": ["a.jpg"]})
    (e,) = query_entries(q, seed=0)
    assert e["instruction"].startswith("[calculate] ") and "cardiothoracic ratio" in e["instruction"]
    assert e["provenance"] == "pseudo" and e["split"] == "train"
    with pytest.raises(KeyError):
        query_entries(q.with_columns(pl.lit("nonsense").alias("task")), seed=0)


def test_thresholds_are_explicit_or_the_keep_fraction_quantile():
    from imax.pseudo.label import confidence_thresholds

    rows = [{"task": "vqa", "confidence": c} for c in (-0.1, -0.2, -0.3, -0.4)]
    rows += [{"task": "report", "confidence": -2.0}, {"task": "report", "confidence": None}]
    th = confidence_thresholds(rows, {"report": -1.0}, keep_fraction=0.5)
    assert th == {"report": -1.0, "vqa": -0.2}
    assert len(keep_confident([r | {"parsed": {}} for r in rows], th)) == 2  # two vqa pass, report fails
    with pytest.raises(ValueError):
        confidence_thresholds(rows, {}, keep_fraction=0.0)


def test_pseudo_label_with_images_encoded_once_matches_per_batch_encoding(tmp_path):
    """Three queries per image: encoded once (both the generation and the likelihood pass read the
    cache), the labels and confidences are those of running the tower in every batch."""
    import numpy as np
    from PIL import Image

    from imax.data import PromptCollator, TrainCollator
    from imax.model import build_model, train_tokenizer
    from imax.pseudo.label import pseudo_label
    from imax.schema.config.model import ModelConfig
    from imax.tasks import TASK_TOKENS

    rng = np.random.default_rng(0)
    queries = [("calculation", {"measure": "ctr"}), ("multilabel", {"label_space": "chexpert14"}),
               ("vqa", {"question": "Is there an effusion?", "content_type": "presence",
                        "semantic_type": "verify"})]  # fmt: skip
    entries = []
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        for task, query in queries:
            entries.append({"id": f"{i}:{task}", "dicom_id": str(i), "task": task, "query": json.dumps(query),
                            "instruction": TASKS[task].render_instruction(query, 0), "response": "",
                            "image": f"{i}.png"})  # fmt: skip
    tok = train_tokenizer([e["instruction"] for e in entries] * 5 + ["0.50 yes no Edema"] * 5, TASK_TOKENS, 300)
    cfg = ModelConfig.tiny(text={"num_layers": 1, "intermediate_size": 48, "max_position_embeddings": 256})
    model = build_model(cfg, tok).eval()
    interface = ModelInterface.from_processor(make_processor(model, tok))
    prompt = PromptCollator(interface, tmp_path, 256)
    train = TrainCollator(interface, tmp_path, 256)
    cached = pseudo_label(model, tok, entries, prompt, train, batch_size=2, vision_cache_gb=1.0)
    plain = pseudo_label(model, tok, entries, prompt, train, batch_size=2, vision_cache_gb=0.0)
    assert [r["output"] for r in cached] == [r["output"] for r in plain]
    assert [r["parsed"] for r in cached] == [r["parsed"] for r in plain]
    scored = [(a["confidence"], b["confidence"]) for a, b in zip(cached, plain, strict=True)
              if b["confidence"] is not None]  # fmt: skip
    assert scored, "the tiny model should give some parseable answer to score"
    for a, b in scored:
        assert a == pytest.approx(b, abs=1e-5)
