"""The shipped multi-GPU launch configs say what they promise (read by Accelerate's own config class),
and the FSDP wrap units come from the loaded model."""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig

from imax.train.checkpoint import clean_name
from imax.train.loop import layer_classes

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "accelerate"


def _load(name: str) -> ClusterConfig:
    return ClusterConfig.from_yaml_file(str(CONFIGS / name))


def test_every_engine_has_a_config():
    assert {p.name for p in CONFIGS.glob("*.yaml")} >= {"ddp_bf16.yaml", "fsdp_bf16.yaml", "deepspeed_zero2.yaml",
                                                        "deepspeed_zero3.yaml"}
    readme = (CONFIGS / "README.md").read_text()
    for p in CONFIGS.glob("*.yaml"):
        assert p.name in readme, p.name


def test_fsdp_is_full_shard_and_lora_aware():
    fsdp = _load("fsdp_bf16.yaml").fsdp_config
    assert fsdp["fsdp_sharding_strategy"] == "FULL_SHARD"
    assert fsdp["fsdp_use_orig_params"] is True  # frozen + trainable parameters in one unit
    assert fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT"  # a save gathers whole tensors
    assert "fsdp_transformer_layer_cls_to_wrap" not in fsdp  # filled from the loaded model


@pytest.mark.parametrize(("name", "stage"), [("deepspeed_zero2.yaml", 2), ("deepspeed_zero3.yaml", 3)])
def test_deepspeed_stages(name, stage):
    cfg = _load(name)
    ds = cfg.deepspeed_config
    assert str(cfg.distributed_type).endswith("DEEPSPEED") and ds["zero_stage"] == stage
    assert ds["gradient_accumulation_steps"] == 1  # imax accumulates itself
    if stage == 3:
        assert ds["zero3_save_16bit_model"] is True and ds["zero3_init_flag"] is False


def test_wrap_units_are_the_models_layers():
    from imax.model import build_model, train_tokenizer

    from .conftest import tiny_model

    tok = train_tokenizer(["[report] a b c", "heart normal"] * 20, ["[report]"], 300)
    assert layer_classes(build_model(tiny_model(), tok)) == ["CLIPEncoderLayer", "LlamaDecoderLayer"]


def test_wrapper_parts_leave_parameter_names():
    name = "base_model.model.model.language_model.layers.0._fsdp_wrapped_module._checkpoint_wrapped_module.mlp.w"
    assert clean_name(name) == "base_model.model.model.language_model.layers.0.mlp.w"
