"""imax.model.vision_cache in training: frozen-tower features encoded once give the training of the
uncached loop (the cache itself: tests/model/test_vision_cache.py)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from imax.train import train
from imax.train.logging import read_log

from .conftest import tiny_config


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
