"""Fixtures of the report tests (the fakes themselves live in ``report_fakes.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .report_fakes import make_dataset, make_results


@pytest.fixture
def results(tmp_path: Path) -> dict[str, Any]:
    return make_results(tmp_path)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path)


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Path]]:
    """The full fake results and the report written from them, once per session (plots cost ~1 s of
    CPU); for read-only checks."""
    root = tmp_path_factory.mktemp("report")
    res = make_results(root)
    from imax.report import write_report

    return res, write_report(res, root / "out")
