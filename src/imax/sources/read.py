"""``read_sources``: find every source, run the adapters in registry order, assemble SourceTables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl

from imax.schema.config.sources import SourcesConfig
from imax.schema.errors import MissingPathError
from imax.sources.context import Adapter, Context
from imax.sources.discovery import discover, load_paths
from imax.sources.tables import (
    IMAGE_SCHEMA,
    NEAR_SHOWN,
    QUARANTINE_SCHEMA,
    NotFound,
    SourceTables,
    empty_annotations,
    empty_images,
)


def find_files(
    root: Path,
    cfg: SourcesConfig,
    adapters: Mapping[str, Adapter],
    not_found: dict[str, NotFound] | None = None,
) -> dict[str, list[Path]]:
    """Discovery, overridden per source by the sources.yaml mapping (``cfg.paths_file`` or ROOT/sources.yaml).

    ``not_found``, when given, receives a :class:`NotFound` for every adapter with no file (names looked
    for, look-alike files elsewhere under the root, sources.yaml paths that do not exist)."""
    near: dict[str, list[Path]] = {}
    found = discover(root, adapters, near=near)
    mapping = cfg.paths_file if cfg.paths_file is not None else root / "sources.yaml"
    if cfg.paths_file is not None and not Path(cfg.paths_file).is_file():
        raise MissingPathError(f"sources mapping not found: {cfg.paths_file}")
    unresolved: dict[str, list[str]] = {}
    if Path(mapping).is_file():
        found.update(load_paths(Path(mapping), root, adapters, unresolved=unresolved))
    found = {k: v for k, v in found.items() if v}
    if not_found is not None:
        for name, ad in adapters.items():
            if name not in found:
                rel = sorted(os.path.relpath(p, root).replace(os.sep, "/") for p in near.get(name, []))
                not_found[name] = NotFound(
                    name, list(ad.globs), near_misses=rel[:NEAR_SHOWN], near_total=len(rel),
                    unresolved=unresolved.get(name, []),
                )
    return found


def read_sources(
    root: Path, cfg: SourcesConfig | None = None, adapters: Mapping[str, Adapter] | None = None
) -> SourceTables:
    """Read every source under ``root`` into canonical tables (see :class:`SourceTables`).

    ``mimic_metadata`` runs first (it builds IMAGES, which every other source joins). A source with no
    file is listed in ``missing``; a source that needs IMAGES when metadata is missing gets one ``*``
    quarantine row per file. Raises only for a missing root / mapping file or, with ``cfg.strict``, an
    :class:`~imax.schema.errors.InputError` on the first bad row.
    """
    from imax.sources import SOURCES

    cfg = cfg or SourcesConfig()
    adapters = adapters if adapters is not None else SOURCES
    root = Path(root)
    if not root.is_dir():
        raise MissingPathError(f"data root not found: {root}")
    searched: dict[str, NotFound] = {}
    files = find_files(root, cfg, adapters, searched)
    ctx = Context(root=root, cfg=cfg)
    missing: list[str] = []
    wanted = [n for n in adapters if not cfg.only or n in cfg.only or n == "mimic_metadata"]
    # Background sources start once IMAGES exists and are merged at their own turn, so every output
    # keeps the registry order. Strict mode reads one source at a time (the first bad row raises).
    pending: dict[str, tuple[Future[None], Context]] = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        for name in wanted:
            adapter = adapters[name]
            paths = files.get(name, [])
            if not paths:
                missing.append(name)
                continue
            if name in pending:
                future, child = pending.pop(name)
                future.result()
                ctx.merge(child)
                continue
            ctx.source = name
            if adapter.needs_images and ctx.images is None:
                # A report tree is one input: one row for its files/ folder, not one per report.
                named = sorted({p.parent.parent.parent if p.suffix == ".txt" else p for p in paths})
                for p in named:
                    ctx.file_error(
                        p, "cannot join images: mimic-cxr-2.0.0-metadata.csv(.gz) not found or unreadable"
                    )
                continue
            adapter.read(paths, ctx)
            if ctx.images is not None and not cfg.strict:
                for later in wanted[wanted.index(name) + 1 :]:
                    if adapters[later].background and files.get(later) and later not in pending:
                        child = ctx.fork(later)
                        pending[later] = (pool.submit(adapters[later].read, files[later], child), child)
    images = (
        ctx.images.drop("frontal").select(list(IMAGE_SCHEMA)).cast(IMAGE_SCHEMA)  # type: ignore[arg-type]
        if ctx.images is not None
        else empty_images()
    )
    annotations = pl.concat(ctx.annotations, rechunk=False) if ctx.annotations else empty_annotations()
    quarantine = pl.concat(ctx.quarantined) if ctx.quarantined else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return SourceTables(
        images=images,
        annotations=annotations,
        quarantine=quarantine,
        inputs=ctx.inputs,
        missing=missing,
        not_found=[searched[n] for n in missing],
        data_root=root.resolve(),
    )
