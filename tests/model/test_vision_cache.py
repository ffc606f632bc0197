"""imax.model.vision_cache: frozen-tower features encoded once give the losses of the uncached forward
(training with and without the cache: tests/train/test_vision_cache.py)."""

from __future__ import annotations

import pytest
import torch

from imax.data import ModelInterface, TrainCollator, load_entries
from imax.model import apply_lora, build_model, make_processor, num_image_tokens, train_tokenizer
from imax.model.vision_cache import build_vision_cache
from imax.train.loop import answer_losses
from train.conftest import make_dataset, tiny_model


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory):
    """The train tests' tiny dataset (tests/train/conftest.py), whose fixtures tests/model does not see."""
    return make_dataset(tmp_path_factory.mktemp("tinydata"))


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
