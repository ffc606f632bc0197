"""Pure build functions: canonical source tables → image-centric store → IMAX / DMAX datasets.

Public API: :func:`build_dataset` (tables in, dataset out), :func:`build_from_sources` (reads the
sources first; the ``imax build`` path), :func:`check_leakage`, :func:`make_store`.
"""

from imax.builders.capfit import fit_entry_cap
from imax.builders.dataset import (
    BuildResult,
    build_dataset,
    build_from_sources,
    format_accounting,
    write_build,
)
from imax.builders.leakage import LeakageReport, check_leakage
from imax.builders.select import DmaxPoolError
from imax.builders.store import Store, make_store, write_store

__all__ = [
    "BuildResult",
    "DmaxPoolError",
    "LeakageReport",
    "Store",
    "build_dataset",
    "build_from_sources",
    "check_leakage",
    "fit_entry_cap",
    "format_accounting",
    "make_store",
    "write_build",
    "write_store",
]
