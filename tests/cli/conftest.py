"""Fixtures of the CLI tests: one smoke-trained checkpoint per session (see ``smoke_model``)."""

from __future__ import annotations

import pytest

from .smoke_model import Smoke, train_smoke


@pytest.fixture(scope="session")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Smoke:
    return train_smoke(tmp_path_factory.mktemp("smoke"))
