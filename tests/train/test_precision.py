"""Precision and memory switches of ``imax train``, checked on the CPU: gradient checkpointing changes
nothing but memory, ``--dtype bfloat16`` loads the frozen base in bf16 with LoRA kept in float32, bf16
autocast goes through Accelerate, and a hub id as ``--base`` trains from the HF cache."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import yaml
from safetensors.torch import load_file

from imax.model import checkpoint_kind, load_checkpoint
from imax.train.loop import train

from .conftest import tiny_config

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture(scope="module")
def base(tiny_data, tmp_path_factory):
    """The tiny base, built once by a 1-step run."""
    out = tmp_path_factory.mktemp("precision")
    train(tiny_config(tiny_data, out / "seed", max_steps=1, fisher_fractions=()))
    return out / "seed" / "base"


def _run(tiny_data, out, base, **kw):
    return train(tiny_config(tiny_data, out, base=base, max_steps=2, fisher_fractions=(), **kw))


def test_gradient_checkpointing_gives_the_same_loss_and_weights(tiny_data, base, tmp_path):
    plain = _run(tiny_data, tmp_path / "plain", base)
    ckpt = _run(tiny_data, tmp_path / "gc", base, gradient_checkpointing=True)
    assert ckpt.losses == pytest.approx(plain.losses, rel=1e-6, abs=1e-7)
    a = load_file(str(plain.final / "trainable.safetensors"))
    b = load_file(str(ckpt.final / "trainable.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)


def test_gradient_checkpointing_is_really_on():
    from imax.model import build_model, train_tokenizer

    from .conftest import tiny_model

    tok = train_tokenizer(["[report] a b c", "heart normal"] * 20, ["[report]"], 300)
    model = build_model(tiny_model(), tok)
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    layers = model.model.language_model.layers
    assert all(layer.gradient_checkpointing for layer in layers)


def test_bf16_weights_train_with_fp32_lora(tiny_data, base, tmp_path):
    result = _run(tiny_data, tmp_path / "bf16", base, dtype="bfloat16")
    assert all(torch.isfinite(torch.tensor(result.losses)))
    saved = load_file(str(result.final / "trainable.safetensors"))
    lora = {k: v for k, v in saved.items() if ".lora_" in k}
    assert lora and {v.dtype for v in lora.values()} == {torch.float32}  # PEFT keeps adapters fp32
    model, _ = load_checkpoint(result.final, dtype="bfloat16")
    frozen = {p.dtype for n, p in model.named_parameters() if ".lora_" not in n and "modules_to_save" not in n}
    assert frozen == {torch.bfloat16}
    assert yaml.safe_load((result.out / "config.yaml").read_text())["dtype"] == "bfloat16"


@pytest.fixture
def fresh_accelerate():
    """Accelerate keeps one process-wide state (a run is one process); reset it around a test that
    changes the mixed precision inside the test process."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def test_bf16_autocast_through_accelerate(tiny_data, base, tmp_path, fresh_accelerate):
    result = _run(tiny_data, tmp_path / "amp", base, mixed_precision="bf16")
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert checkpoint_kind(result.final) == "lora"


def test_hub_id_base_trains_and_is_recorded(tiny_data, base, tmp_path, monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--tiny-org--tiny-llava"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(base, repo / "snapshots" / COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)  # "tiny-org/tiny-llava" must not exist as a relative path
    result = _run(tiny_data, tmp_path / "hubrun", "tiny-org/tiny-llava")
    info = json.loads((result.final / "base.json").read_text())
    assert info["hub_id"] == "tiny-org/tiny-llava" and COMMIT in info["path"]
    model, _ = load_checkpoint(result.final)  # base.json's path: the cache snapshot
    assert model is not None


def test_config_yaml_records_the_loaded_base(tiny_data, base, tmp_path):
    """With --base, config.yaml describes the model that trained (the base's shapes and vocabulary), not
    the tiny defaults the config would otherwise carry."""
    import dataclasses

    from imax.schema.config.model import ModelConfig

    defaults = ModelConfig()
    cfg = tiny_config(tiny_data, tmp_path / "real", base=base, max_steps=1, fisher_fractions=())
    cfg.model = dataclasses.replace(defaults, lora=cfg.model.lora)  # 128 px, vocab 4000, 4 layers
    result = train(cfg)
    saved = yaml.safe_load((result.final / "config.yaml").read_text())["model"]
    base_cfg = json.loads((base / "config.json").read_text())
    assert saved["vision"]["image_size"] == base_cfg["vision_config"]["image_size"] == 32
    assert saved["text"]["num_layers"] == base_cfg["text_config"]["num_hidden_layers"] == 2
    assert saved["vocab_size"] == base_cfg["text_config"]["vocab_size"] != defaults.vocab_size
    assert saved["lora"]["r"] == cfg.model.lora.r
