"""Shared fixtures: a tiny MIMIC-like data root built from the hand-written files in ``fixtures/``.

The text fixtures are copied to a temporary root; the three MIMIC-CXR-JPG label files are gzipped there
(as shipped: ``*.csv.gz``) and 8×8 JPEGs are written for every image except F, whose file is missing
on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._util import build_root


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only mini data root (shared by a test module; copy it before changing anything)."""
    return build_root(tmp_path_factory.mktemp("mini") / "root")


@pytest.fixture
def fresh_root(tmp_path: Path) -> Path:
    """A mini data root of one's own, free to modify."""
    return build_root(tmp_path / "root")


@pytest.fixture(scope="module")
def mini_tables(mini_root: Path):  # type: ignore[no-untyped-def]
    """``read_sources`` over the mini root with the default config."""
    from imax.schema.config.sources import SourcesConfig
    from imax.sources import read_sources

    return read_sources(mini_root, SourcesConfig())


@pytest.fixture(scope="session")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The corruption corpus's phantom (read-only; see :mod:`tests.sources.corpus`), made once a session:
    its root and the corpus-only files (``mimic_cxr_sectioned.csv``) as bytes."""
    from .corpus import make_phantom

    return make_phantom(tmp_path_factory.mktemp("corpus") / "phantom")
