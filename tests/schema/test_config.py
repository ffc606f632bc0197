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
