"""The training budget: an explicitly given ``max_steps`` is honoured (the epochs follow from it), and
``epochs`` cutting an explicit ``max_steps`` short is reported before training starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imax.train.sampler import DEFAULT_EPOCHS, budget_conflict, total_steps

from .conftest import tiny_config


def test_max_steps_alone_is_exact_even_past_the_default_epochs() -> None:
    # the reported case: 528 steps were 3 epochs; --max-steps 1500 alone must give 1500
    assert total_steps(2816, epochs=None, batch_size=16, grad_accum=1, max_steps=1500) == 1500
    assert total_steps(2816, epochs=None, batch_size=16, grad_accum=1, max_steps=None) == 528
    assert total_steps(10, epochs=None, batch_size=4, grad_accum=1, max_steps=None) == \
        total_steps(10, epochs=DEFAULT_EPOCHS, batch_size=4, grad_accum=1, max_steps=None)


def test_both_budgets_take_the_first_and_the_conflict_is_named() -> None:
    assert total_steps(2816, epochs=3, batch_size=16, grad_accum=1, max_steps=1500) == 528
    note = budget_conflict(2816, epochs=3, batch_size=16, grad_accum=1, max_steps=1500)
    assert note is not None and "1500" in note and "528" in note and "8.52 epochs" in note
    # epochs long enough: max_steps is a plain cap, nothing to report
    assert budget_conflict(2816, epochs=10, batch_size=16, grad_accum=1, max_steps=1500) is None
    assert budget_conflict(2816, epochs=None, batch_size=16, grad_accum=1, max_steps=1500) is None
    with pytest.raises(ValueError, match="max_steps"):
        total_steps(10, epochs=None, batch_size=4, grad_accum=1, max_steps=0)


def test_train_runs_exactly_max_steps_past_the_default_epochs(tiny_data: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import polars as pl

    from imax.train import train

    n = pl.read_parquet(tiny_data / "entries.parquet").filter(pl.col("split") == "train").height
    budget = 25  # more steps than the 3 default epochs of the tiny data give at batch 4
    assert budget > total_steps(n, epochs=DEFAULT_EPOCHS, batch_size=4, grad_accum=1, max_steps=None)
    result = train(tiny_config(tiny_data, tmp_path / "run", epochs=None, max_steps=budget, log_every_steps=5))
    assert result.steps == budget
    first = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert first["budget"]["total_steps"] == budget and first["budget"]["note"] is None
    # both given, epochs first: reported on stderr before the run, and in the log's first record
    result = train(tiny_config(tiny_data, tmp_path / "both", epochs=1, max_steps=budget, log_every_steps=5))
    assert result.steps < budget
    assert "will not be reached" in capsys.readouterr().err
    first = json.loads((tmp_path / "both" / "log.jsonl").read_text().splitlines()[0])
    assert "will not be reached" in first["budget"]["note"]
