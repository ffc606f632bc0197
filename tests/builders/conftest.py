"""Fixtures of the build tests: synthetic tables, the fake task table and two shared builds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from imax.sources.base import SourceTables
from imax.tasks.base import TaskSpec

from ._build_synth import BUILD_KW, FAKE_TASKS, make_tables


@pytest.fixture(scope="session")
def tables_factory() -> Callable[..., SourceTables]:
    return make_tables


@pytest.fixture(scope="session")
def fake_tasks() -> Mapping[str, TaskSpec]:
    return FAKE_TASKS


@pytest.fixture(scope="session")
def synth_tables() -> SourceTables:
    return make_tables(500, seed=0, orphans=3)


@pytest.fixture(scope="session")
def built(synth_tables: SourceTables, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """IMAX and DMAX built once from the same synthetic tables (fake task table): mode → BuildResult."""
    from imax.builders import build_dataset
    from imax.schema.config.build import BuildConfig

    root = tmp_path_factory.mktemp("built")
    return {
        mode: build_dataset(synth_tables, BuildConfig(out=root / mode, mode=mode, **BUILD_KW), tasks=FAKE_TASKS)
        for mode in ("imax", "dmax")
    }


@pytest.fixture(scope="session")
def build_kw() -> dict[str, Any]:
    return dict(BUILD_KW)
