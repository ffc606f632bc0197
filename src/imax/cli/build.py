"""``imax build``: read the native sources, build an IMAX or DMAX dataset, print the accounting."""

from __future__ import annotations

from imax.schema.config.build import BuildConfig

Config = BuildConfig
HELP = "Build an IMAX (image-centric) or DMAX (decentralized) instruction dataset from the native sources."


def run(cfg: BuildConfig) -> int:
    from imax.builders import build_from_sources, format_accounting

    result = build_from_sources(cfg)
    print(format_accounting(result))
    print(f"wrote {result.out} (manifest id {result.manifest['id'] if result.manifest else '-'})")
    return 0
