"""``imax build``: read the native sources, build an IMAX or DMAX dataset, print the accounting."""

from __future__ import annotations

from pathlib import Path

from imax.schema.config.build import BuildConfig

Config = BuildConfig
HELP = "Build an IMAX (image-centric) or DMAX (decentralized) instruction dataset from the native sources."


def check_sources_root(cfg: BuildConfig) -> None:
    """Refuse, in one line, a ``--sources`` folder that holds no MIMIC-CXR metadata file (the one source
    every build reads) and no ``sources.yaml`` mapping: e.g. a checkpoint or dataset folder given by
    mistake, which would otherwise reach the builder as empty tables."""
    from imax.schema.errors import ImaxError, MissingPathError
    from imax.sources.discovery import discover

    root = Path(cfg.sources)
    if not root.is_dir():
        raise MissingPathError(f"sources folder {str(root)!r} does not exist")
    if cfg.sources_cfg.paths_file is not None or (root / "sources.yaml").is_file():
        return
    found = discover(root)
    if "mimic_metadata" not in found:
        others = ", ".join(sorted(found)) or "no known source file"
        raise ImaxError(
            f"{root}: no MIMIC-CXR metadata file (mimic-cxr-2.0.0-metadata.csv[.gz]) found and no sources.yaml "
            f"mapping ({others} found): not a sources folder"
        )


def run(cfg: BuildConfig) -> int:
    from imax.builders import build_from_sources, format_accounting

    check_sources_root(cfg)
    result = build_from_sources(cfg)
    print(format_accounting(result))
    print(f"wrote {result.out} (manifest id {result.manifest['id'] if result.manifest else '-'})")
    return 0
