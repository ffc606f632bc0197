"""Shared phantom fixtures: one 200-patient phantom per session, written through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from imax.cli import main


@pytest.fixture(scope="session")
def phantom200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom200")
    # 128 px keeps the session fast; sizes do not change any table except Rows/Columns and masks.
    rc = main(["phantom", "--out", str(out), "--patients", "200", "--seed", "0", "--image-size", "128",
               "--workers", "1", "--edema-cohort-fraction", "0.15", "--edema-expert-fraction", "0.2",
               "--edema-consensus-fraction", "0.2", "--validate-fraction", "0.05", "--test-fraction", "0.05"])
    assert rc == 0
    return out
