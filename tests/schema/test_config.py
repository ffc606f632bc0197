import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from imax.schema.config import (
    ConfigError,
    add_arguments,
    field_docs,
    from_args,
    from_dict,
    load_yaml,
    save_yaml,
)


@dataclass
class Inner:
    lr: float = 1e-3
    """Learning rate."""
    names: tuple[str, ...] = ("a", "b")
    """Some names."""


@dataclass
class Outer:
    out: Path = Path("runs/x")
    """Where to write."""
    mode: Literal["imax", "dmax"] = "imax"
    """Dataset organisation."""
    steps: int | None = None
    """Optional cap."""
    verbose: bool = False
    """Talk more."""
    inner: Inner = field(default_factory=Inner)
    """Nested settings."""


def test_field_docs_come_from_attribute_docstrings():
    assert field_docs(Outer)["mode"] == "Dataset organisation."
    assert field_docs(Inner)["lr"] == "Learning rate."


def test_yaml_round_trip(tmp_path):
    cfg = Outer(out=Path("/tmp/o"), mode="dmax", steps=5, inner=Inner(lr=0.5, names=("x",)))
    path = save_yaml(cfg, tmp_path / "c.yaml")
    assert load_yaml(Outer, path) == cfg


def test_cli_overrides_yaml_and_defaults():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Outer)
    ns = parser.parse_args(["--mode", "dmax", "--inner.lr", "0.1", "--verbose"])
    cfg = from_args(Outer, ns, base={"steps": 7})
    assert cfg == Outer(mode="dmax", steps=7, verbose=True, inner=Inner(lr=0.1))
    help_text = " ".join(parser.format_help().split())
    assert "Dataset organisation." in help_text and "choices: imax, dmax" in help_text


def test_bad_values_name_the_key():
    with pytest.raises(ConfigError, match="'mode'"):
        from_dict(Outer, {"mode": "centralised"})
    with pytest.raises(ConfigError, match=r"'inner\.lr'"):
        from_dict(Outer, {"inner": {"lr": "fast"}})
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(Outer, {"epochs": 3})
    with pytest.raises(ConfigError, match="'steps'"):
        from_dict(Outer, {"steps": 1.5})


@dataclass
class Percent:
    frac: float = 0.05
    """Five % of the cohort."""


def test_percent_sign_in_docstring_does_not_break_help():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Percent)
    assert "Five % of the cohort." in " ".join(parser.format_help().split())


def test_tiny_model_config_overrides_by_field_group_and_whole_group():
    from imax.schema.config.model import LoraSettings, ModelConfig

    base = ModelConfig.tiny()
    assert (base.vision.image_size, base.vision.patch_size, base.text.num_layers, base.vocab_size) == (32, 16, 2, 300)
    assert base.lora.dropout == 0.0 and base.seed == 0
    cfg = ModelConfig.tiny(text_num_layers=1, vision={"num_layers": 2}, vocab_size=320, lora_dropout=0.1,
                           vision_feature_select_strategy="full")  # fmt: skip
    assert (cfg.text.num_layers, cfg.text.hidden_size, cfg.vision.num_layers, cfg.vision.hidden_size) == (1, 32, 2, 32)
    assert (cfg.vocab_size, cfg.lora.dropout, cfg.lora.r, cfg.vision_feature_select_strategy) == (320, 0.1, 4, "full")
    assert ModelConfig.tiny(lora=LoraSettings()).lora == LoraSettings()
    assert base == ModelConfig.tiny() and base.text is not ModelConfig.tiny().text  # fresh groups each call
    for bad in ({"text_depth": 3}, {"colour": 1}, {"lora": LoraSettings(), "lora_r": 2}):
        with pytest.raises(TypeError, match=r"ModelConfig\.tiny"):
            ModelConfig.tiny(**bad)
