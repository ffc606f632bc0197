"""``pretrain``: full fine-tune of the tiny base into a cache keyed by the config hash, with a probe report."""

from __future__ import annotations

import json

import pytest

from imax.schema.config.train import PretrainConfig
from imax.schema.errors import ImaxError
from imax.train.pretrain import cache_key, pretrain

from .conftest import tiny_model


def test_pretrain_on_a_data_dir_is_cached(tiny_data, tmp_path):
    cfg = PretrainConfig(out=tmp_path / "cache", data=tiny_data, preset="smoke", model=tiny_model(),
                         batch_size=4, lr=3e-3, probe_labels=("Cardiomegaly",))
    path = pretrain(cfg)
    assert path == tmp_path / "cache" / cache_key(cfg)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "config.yaml", "pretrain_report.json"):
        assert (path / name).is_file(), name
    report = json.loads((path / "pretrain_report.json").read_text())
    assert report["steps"] == 4 and report["probe"]["labels"] == ["Cardiomegaly"]
    assert report["probe"]["train_images"] == 6 and report["probe"]["test_images"] == 2
    # no work or tmp dirs left behind (the per-key lock file stays: deleting it would race a waiter)
    assert [p.name for p in (tmp_path / "cache").glob(".*")] == [f".lock-{cache_key(cfg)}"]
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert pretrain(cfg) == path and (path / "model.safetensors").stat().st_mtime_ns == mtime  # reused

    from imax.model import load_base

    model, _ = load_base(path)
    assert any(p.requires_grad for p in model.parameters())


@pytest.mark.slow
def test_pretrain_smoke_preset_from_a_phantom(tmp_path):
    path = pretrain(PretrainConfig(out=tmp_path, preset="smoke"))
    report = json.loads((path / "pretrain_report.json").read_text())
    assert report["phantom_seed"] == 9001 and report["pool"]["images"] > 0


def test_unknown_probe_label_fails_before_any_work(tmp_path):
    cfg = PretrainConfig(out=tmp_path / "cache", data=tmp_path / "missing", preset="smoke", probe_labels=("Cardiomegally",))
    with pytest.raises(ImaxError, match=r"probe_labels: unknown finding\(s\) \['Cardiomegally'\]"):
        pretrain(cfg)
    assert not (tmp_path / "cache").exists()
