"""The shipped multi-GPU launch configs say what they promise (read by Accelerate's own config class),
and the FSDP wrap units come from the loaded model."""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.utils import DistributedType

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


class ShardedAccelerator:
    """What ``save_checkpoint`` asks of Accelerate, as a one-process ZeRO-3 run answers: the live
    parameters are placeholders and only ``get_state_dict`` (the 16-bit gather) holds the weights."""

    distributed_type = DistributedType.DEEPSPEED
    is_main_process = True
    process_index = 0
    num_processes = 1

    def __init__(self, full_state):
        self.full_state = full_state

    def unwrap_model(self, model):
        return model

    def wait_for_everyone(self):
        pass

    def get_state_dict(self, model):
        return self.full_state


def test_sharded_save_writes_the_gathered_weights_and_verify_catches_placeholders(tiny_data, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from imax.model import apply_lora, build_model, load_checkpoint, save_base, train_tokenizer
    from imax.schema.errors import ImaxError
    from imax.train import checkpoint as ckpt
    from imax.train.loop import ARTIFACTS, build_optimizer, save_checkpoint, verify_saved

    from .conftest import tiny_config

    cfg = tiny_config(tiny_data, tmp_path / "run", base=tmp_path / "base")
    tok = train_tokenizer(["[report] a b c", "heart normal"] * 20, ["[report]"], 300)
    save_base(build_model(cfg.model, tok), tok, tmp_path / "base")
    (tmp_path / "run").mkdir()
    for name in set(ARTIFACTS) - {"base.json"}:  # what write_artifacts leaves in a run directory
        (tmp_path / "run" / name).write_text("{}\n")
    (tmp_path / "run" / "base.json").write_text(f'{{"path": "{tmp_path / "base"}"}}')
    model, _ = load_checkpoint(tmp_path / "base")
    model = apply_lora(model, cfg.model.lora)
    initial = ckpt.fingerprint(ckpt.trainable_state(model))
    with torch.no_grad():  # "training": every trainable tensor moves
        for p in ckpt.trainable_state(model).values():
            p.add_(0.01)
    trained = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.no_grad():  # ZeRO-3: what the rank holds after training is a placeholder
        for p in ckpt.trainable_state(model).values():
            p.zero_()
    optimizer, names = build_optimizer(model, cfg)
    final = save_checkpoint("final", cfg=cfg, accelerator=ShardedAccelerator(trained), model=model,
                            optimizer=optimizer, names=names, state={"step": 1}, tokenizer=tok)
    saved = load_file(str(final / "trainable.safetensors"))
    assert saved and all(torch.equal(saved[k], trained[k]) for k in saved)  # the gathered, trained values
    assert ckpt.read_json(final / "state.json")["resumable"] is False
    assert not (final / "optimizer.safetensors").exists()
    verify_saved(final, initial, "lora")  # moved, and the adapter holds exactly them
    with pytest.raises(ImaxError, match="cannot be resumed"):
        ckpt.check_resumable(final, 0)

    # What verify_saved refuses: an untouched save, and placeholders with no elements.
    untouched = {k: v - 0.01 for k, v in saved.items()}
    save_file(untouched, str(final / "trainable.safetensors"))
    assert ckpt.fingerprint(untouched).keys() == initial.keys()
    with pytest.raises(ImaxError, match="equal the initial ones"):
        verify_saved(final, ckpt.fingerprint(untouched), "lora")
    save_file({k: torch.empty(0) for k in saved}, str(final / "trainable.safetensors"))
    with pytest.raises(ImaxError, match="lost their elements"):
        verify_saved(final, initial, "lora")
