"""Pure build functions: canonical source tables → image-centric store → IMAX / DMAX datasets.

Public API: :func:`build_dataset` (tables in, one arm out), :func:`build_arms` (IMAX and DMAX from one
preparation: ``imax build --mode both`` and ``imax experiment``), :func:`build_from_sources` /
:func:`build_arms_from_sources` (read the sources first; the ``imax build`` path), :func:`check_leakage`,
:func:`make_store`.
"""

from imax.builders.capfit import fit_entry_cap
from imax.builders.dataset import (
    BuildResult,
    PreparedBuild,
    arm_dirs,
    build_arms,
    build_arms_from_sources,
    build_dataset,
    build_from_sources,
    build_prepared,
    format_accounting,
    prepare_build,
    write_build,
)
from imax.builders.leakage import LeakageReport, check_leakage
from imax.builders.select import DmaxPoolError
from imax.builders.store import Store, make_store, write_store

__all__ = [
    "BuildResult",
    "DmaxPoolError",
    "LeakageReport",
    "PreparedBuild",
    "Store",
    "arm_dirs",
    "build_arms",
    "build_arms_from_sources",
    "build_dataset",
    "build_from_sources",
    "build_prepared",
    "check_leakage",
    "fit_entry_cap",
    "format_accounting",
    "make_store",
    "prepare_build",
    "write_build",
    "write_store",
]
