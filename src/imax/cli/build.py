"""``imax build``: read the native sources, build IMAX, DMAX or both, print the accounting."""

from __future__ import annotations

from pathlib import Path

from imax.schema.config.build import BuildConfig

Config = BuildConfig
HELP = ("Build an IMAX (image-centric) or DMAX (decentralized) instruction dataset from the native sources; "
        "--mode both writes OUT/imax and OUT/dmax with equal per-task volumes, as imax experiment does.")


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
    from imax.builders import build_arms_from_sources, build_from_sources, format_accounting

    check_sources_root(cfg)
    if cfg.mode == "both":
        results, _ = build_arms_from_sources(cfg)
    else:
        results = {cfg.mode: build_from_sources(cfg)}
    for result in results.values():
        print(format_accounting(result))
        print(f"wrote {result.out} (manifest id {result.manifest['id'] if result.manifest else '-'})")
    first = (results.get("imax") or next(iter(results.values()))).stats
    caps = first["caps"]
    split = first["split"]
    print(f"split: {split['kind']}" + (f" ({split['reason']})" if "reason" in split else "")
          + "; patients " + ", ".join(f"{s} {c['patients']}" for s, c in split["counts"].items()))
    fitted = ", ".join(f"{k}={caps[k]}" for k in caps["fitted"])
    print(f"caps: max_entries_per_task={caps['max_entries_per_task']}" + (f" (fitted: {fitted})" if fitted else ""))
    for note in caps.get("notes", []):
        print(f"note: {note}")
    if "vs_study" in first.get("recipe", {}):
        print(f"recipe {first['recipe']['name']}: build vs study")
        for k, v in first["recipe"]["vs_study"].items():
            print(f"  {k:<18} {v['build']:>12} {v['study']:>12} {v['deviation_pct']:+.1f}%")
    return 0
