"""imax.train.vision_cache: frozen-tower features encoded once give the training of the uncached loop."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from imax.data import ModelInterface, TrainCollator, load_entries
from imax.model import apply_lora, build_model, make_processor, num_image_tokens, train_tokenizer
from imax.train import train
from imax.train.logging import read_log
from imax.train.loop import answer_losses
from imax.train.vision_cache import build_vision_cache

from .conftest import tiny_config, tiny_model


@pytest.fixture
def setup(tiny_data):
    entries = load_entries(tiny_data, "train")
    tok = train_tokenizer([e["instruction"] + " " + e["response"] for e in entries] * 4,
                          ("[calculate]", "[caption]", "[multilabel]", "[vqa]"), vocab_size=300)  # fmt: skip
    cfg = tiny_model()
    model = apply_lora(build_model(cfg, tok), cfg.lora).train()
    collate = TrainCollator(ModelInterface.from_processor(make_processor(model, tok)), tiny_data, 96)
    return model, collate, entries


def _cache(model, collate, entries, **kw):
    args = {"chunk": 4, "budget_gb": 1.0, "device": torch.device("cpu")} | kw
    return build_vision_cache(model, entries, collate.pixels, **args)


def test_cached_features_give_the_same_losses(setup):
    model, collate, entries = setup
    cache, why = _cache(model, collate, entries)
    assert why == "" and len(cache.row_of) == 6  # 6 train images, 4 entries each
    assert cache.features.shape == (6, num_image_tokens(model), 32)
    b = collate(entries[:5])
    ref, rows = answer_losses(model, b)
    got, rows2 = answer_losses(model, b, image_features=cache.lookup(b["image"]))
    assert torch.equal(rows, rows2)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    with pytest.raises(KeyError, match="not in the vision-feature cache"):
        cache.lookup(["images/none.png"])


def test_cache_refused_when_not_exact_or_too_big(setup):
    model, collate, entries = setup
    assert _cache(model, collate, entries, budget_gb=0)[1].startswith("disabled")
    assert "> vision_cache_gb" in _cache(model, collate, entries, budget_gb=1e-9)[1]
    next(model.get_base_model().model.vision_tower.parameters()).requires_grad_(True)
    assert _cache(model, collate, entries)[1] == "the vision tower trains"


def test_training_with_and_without_the_cache_agree(tiny_data, tmp_path):
    runs = {}
    for name, gb in (("cached", 1.0), ("plain", 0.0)):
        cfg = tiny_config(tiny_data, tmp_path / name, max_steps=4, vision_cache_gb=gb, fisher_fractions=(),
                          dropout=0.1)  # fmt: skip
        result = train(cfg)
        runs[name] = load_file(str(result.final / "trainable.safetensors")), read_log(cfg.out)
    (cached, log_cached), (plain, log_plain) = runs["cached"], runs["plain"]
    assert log_cached[0]["vision_cache"]["images"] == 6
    assert log_plain[0]["vision_cache"] == {"off": "disabled (vision_cache_gb = 0)"}
    assert cached.keys() == plain.keys()
    for k in cached:
        torch.testing.assert_close(cached[k], plain[k], rtol=1e-5, atol=1e-6, msg=k)
    losses = [[r["loss"] for r in log if "loss" in r] for log in (log_cached, log_plain)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
