"""``build_dataset``: canonical source tables → IMAX or DMAX dataset directory (see docs/architecture.md).

Stages: store (join, quarantine orphans) → patient splits → select (shared test; IMAX or DMAX train/val)
→ entries → stats → write (parquet tables, quarantine, stats, exports, manifest last because it hashes
the other outputs).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from imax.builders.capfit import fit_cap_prepared
from imax.builders.entries import make_entries
from imax.builders.export import write_hf, write_llava, write_pointers
from imax.builders.manifest import file_sha256, make_manifest
from imax.builders.recipe import RECIPE_CAPS, RECIPES, compare, fit_recipe
from imax.builders.select import DmaxPoolError, cap_pairs, prepare, select_dmax, select_imax, select_test
from imax.builders.splits import assign_splits
from imax.builders.stats import dataset_stats, empty_build_error, file_error, task_accounting
from imax.builders.store import make_store
from imax.schema.config.build import BuildConfig
from imax.schema.records import ANNOTATION_COLUMNS, ENTRY_COLUMNS, polars_schema
from imax.sources.base import NotFound, SourceTables
from imax.tasks.base import TaskSpec


@dataclass
class BuildResult:
    """A built dataset in memory (and where it was written, if it was)."""

    mode: str
    entries: pl.DataFrame
    """ENTRY_COLUMNS, train then val then test, each sorted by id."""
    images: pl.DataFrame
    """IMAGE_COLUMNS of the images with entries; ``split`` = imax split."""
    annotations: pl.DataFrame
    """ANNOTATION_COLUMNS of the annotations that became entries."""
    quarantine: pl.DataFrame
    """Reader quarantine + orphan annotations."""
    stats: dict[str, Any]
    accounting: dict[str, Any]
    """``inputs`` (per file read/used/quarantined), ``tasks`` (annotations → entries), ``dmax_order``,
    ``render_calls`` (task-table calls per task while rendering)."""
    out: Path | None = None
    manifest: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage."""


def _default_tasks() -> Mapping[str, TaskSpec]:
    from imax.tasks import TASKS  # lazy: the task table is only needed when entries are rendered

    return TASKS


@dataclass
class PreparedBuild:
    """What both arms of a build share: the store, the split, the prepared annotations, resolved caps."""

    cfg: BuildConfig
    """The config with every fitted cap filled in (``max_entries_per_task`` an int or None)."""
    images: pl.DataFrame
    """Store images with the imax split in ``split``."""
    prepared: pl.DataFrame
    """:func:`imax.builders.select.prepare` output, after ``max_entries_per_image_task``."""
    quarantine: pl.DataFrame
    orphans: pl.DataFrame
    split: dict[str, Any]
    """stats.json's ``split`` record (kind, counts, precedence rule)."""
    fitted: dict[str, Any]
    """Caps that were fitted (recipe, ``auto``) rather than given: name → value."""
    notes: list[str] = field(default_factory=list)
    """What the cap fit could not do (stats.json ``caps.notes``)."""
    timings: dict[str, float] = field(default_factory=dict)
    annotations_in: pl.DataFrame | None = None
    """The annotations the store was made from: the sources' plus those tasks derive from IMAGES."""
    released: bool = False
    """``prepared`` was dropped by the last arm built from it (``build_prepared(..., release=True)``)."""


def with_task_annotations(tables: SourceTables, tasks: Mapping[str, TaskSpec]) -> SourceTables:
    """``tables`` plus the annotations of tasks whose truth is a column of IMAGES
    (``TaskSpec.annotations_from_images``; none of the seven built-in tasks has one)."""
    schema = polars_schema(ANNOTATION_COLUMNS)
    extra = [
        spec.annotations_from_images(tables.images).select(list(ANNOTATION_COLUMNS)).cast(schema)
        for spec in tasks.values()
        if spec.annotations_from_images is not None
    ]
    if not extra:
        return tables
    return replace(tables, annotations=pl.concat([tables.annotations.cast(schema), *extra], how="vertical"))


def prepare_build(tables: SourceTables, cfg: BuildConfig, strict: bool | None = None,
                  tasks: Mapping[str, TaskSpec] | None = None) -> PreparedBuild:
    """Store → patient split → prepared annotations → recipe caps → ``auto`` per-task cap.

    Everything here is independent of ``cfg.mode``: IMAX and DMAX built from one :class:`PreparedBuild`
    share the test set, the split and the caps by construction. ``tasks`` (default the task table) adds
    the annotations its tasks derive from IMAGES (:func:`with_task_annotations`)."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    tables = with_task_annotations(tables, _default_tasks() if tasks is None else tasks)
    store = make_store(tables, strict=cfg.strict if strict is None else strict)
    t["store"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    images, split = assign_splits(store.images, cfg.split, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    prepared = prepare(store.annotations, images, cfg.seed)
    fitted: dict[str, Any] = {}
    if cfg.recipe != "none":
        caps = fit_recipe(prepared, cfg, RECIPES[cfg.recipe])
        fitted.update({k: v for k, v in caps.items() if getattr(cfg, k) is None})
        cfg = replace(cfg, **caps)
    prepared = cap_pairs(prepared, cfg.max_entries_per_image_task, cfg.seed)
    notes: list[str] = []
    if cfg.max_entries_per_task == "auto":
        try:
            cap = fit_cap_prepared(prepared, cfg, split["val_cap_ratio"])
        except DmaxPoolError as exc:
            if cfg.mode != "imax":  # a DMAX is asked for and cannot be built: say so
                raise
            # an IMAX alone is still well defined: uncapped, with the reason on record
            cap = None
            notes.append(f"max_entries_per_task auto: {exc}; IMAX built uncapped")
        fitted["max_entries_per_task"] = cap
        cfg = replace(cfg, max_entries_per_task=cap)
    t["prepare"] = time.perf_counter() - t0
    return PreparedBuild(cfg=cfg, images=images, prepared=prepared, quarantine=store.quarantine,
                         orphans=store.orphans, split=split, fitted=fitted, notes=notes, timings=t,
                         annotations_in=tables.annotations)


def build_dataset(
    tables: SourceTables,
    cfg: BuildConfig,
    tasks: Mapping[str, TaskSpec] | None = None,
    write: bool = True,
) -> BuildResult:
    """Build the ``cfg.mode`` dataset (imax or dmax) from canonical tables; write it to ``cfg.out`` when
    ``write``. ``cfg.mode == "both"``: use :func:`build_arms`."""
    if cfg.mode == "both":
        raise ValueError("build_dataset builds one arm; mode 'both' is build_arms")
    prep = prepare_build(tables, cfg, tasks=tasks)
    return build_prepared(prep, tables, cfg.mode, Path(cfg.out), tasks=tasks, write=write, release=True)


def arm_dirs(out: Path) -> dict[str, Path]:
    """Where ``imax build --mode both --out OUT`` writes each arm: OUT/imax and OUT/dmax."""
    return {"imax": Path(out) / "imax", "dmax": Path(out) / "dmax"}


def build_arms(
    tables: SourceTables,
    cfg: BuildConfig,
    outs: Mapping[str, Path] | None = None,
    tasks: Mapping[str, TaskSpec] | None = None,
    write: bool = True,
) -> dict[str, BuildResult]:
    """IMAX and DMAX from one preparation (one split, one fitted cap): the study's two arms.

    ``cfg.max_entries_per_task == "auto"`` (the default) fits the largest cap DMAX can match, so the
    per-task volumes are equal. ``outs``: mode → directory (default :func:`arm_dirs` of ``cfg.out``).
    This is what both ``imax build --mode both`` and ``imax experiment`` call."""
    prep = prepare_build(tables, cfg, tasks=tasks)
    outs = dict(outs) if outs is not None else arm_dirs(Path(cfg.out))
    # the last arm releases the prepared annotations once its rows are selected (peak memory)
    return {mode: build_prepared(prep, tables, mode, Path(outs[mode]), tasks=tasks, write=write,
                                 release=mode == "dmax")
            for mode in ("imax", "dmax")}


def build_prepared(
    prep: PreparedBuild,
    tables: SourceTables,
    mode: str,
    out: Path,
    tasks: Mapping[str, TaskSpec] | None = None,
    write: bool = True,
    release: bool = False,
) -> BuildResult:
    """Select, render and (when ``write``) write the ``mode`` arm of a prepared build into ``out``.

    ``release``: no other arm will be built from ``prep``, so ``prep.prepared`` (every annotation, ~1-2 GB
    at MIMIC size) is dropped as soon as this arm's rows are selected, before the entries are rendered:
    the prepared annotations and the entries are then never in memory together (the build's peak RSS)."""
    if prep.released:
        raise ValueError("build_prepared: this PreparedBuild's annotations were released by an earlier arm "
                         "(release=True); prepare the build again")
    tasks = _default_tasks() if tasks is None else tasks
    cfg = replace(prep.cfg, mode=mode, out=out)  # type: ignore[arg-type]
    t: dict[str, float] = dict(prep.timings)
    t0 = time.perf_counter()
    prepared, images = prep.prepared, prep.images
    test = select_test(prepared, cfg)
    imax = select_imax(prepared, cfg, prep.split.get("val_cap_ratio"))
    dmax_order: list[str] = []
    if mode == "imax":
        trainval = imax
    elif mode == "dmax":
        trainval, dmax_order = select_dmax(prepared, imax, cfg)
    else:  # pragma: no cover - the config type forbids it
        raise ValueError(f"unknown mode {mode!r}")
    rows = pl.concat([trainval, test])
    del imax, trainval, test  # peak memory: only the selected rows go on
    if release:
        del prepared
        prep.prepared, prep.released = prep.prepared.clear(), True
    t["select"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    seed = cfg.seed if cfg.paraphrase_seed is None else cfg.paraphrase_seed
    render_calls: dict[str, int] = {}
    full = make_entries(rows, images, tasks, seed, calls=render_calls, extra_columns=("meta",))
    # annotations.parquet = the annotations that became entries, in the entries' (sorted) order
    used_ann = full.select(list(ANNOTATION_COLUMNS))
    entries = full.select(list(ENTRY_COLUMNS))
    del full, rows
    t["entries"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    used_images = images.join(entries.select("dicom_id").unique(), on="dicom_id", how="semi").sort("dicom_id")
    stats = dataset_stats(entries, mode)
    stats["split"] = prep.split
    stats["caps"] = {
        **{k: getattr(cfg, k) for k in ("max_entries_per_task", *RECIPE_CAPS, "max_test_images",
                                        "dmax_tasks_per_image")},
        "fitted": sorted(prep.fitted),
        "notes": prep.notes,
    }
    if cfg.recipe != "none":
        stats["recipe"] = {"name": cfg.recipe}
        if mode == "imax":  # the study's figures describe its IMAX; DMAX matches IMAX's per-task volumes
            stats["recipe"]["vs_study"] = compare(stats, RECIPES[cfg.recipe])
        else:
            stats["recipe"]["note"] = "the study's figures describe IMAX; this DMAX has its per-task volumes"
    whole = prep.quarantine.filter(pl.col("field") == "*").select("file", "reason").rows()  # unread files
    accounting = {
        "inputs": [
            {"source": i.source, "file": Path(i.path).name, "read": i.rows_read, "used": i.rows_used,
             "quarantined": i.rows_quarantined, "error": file_error(i.path, whole)}
            for i in tables.inputs
        ],
        # every source with no file: what was looked for and how to map it (never silently absent)
        "missing_sources": [asdict(n) | {"hint": n.hint()} for n in tables.not_found],
        "orphan_annotations": int(prep.orphans["n"].sum()) if prep.orphans.height else 0,
        "tasks": task_accounting(tables.annotations if prep.annotations_in is None else prep.annotations_in,
                                 prep.orphans, entries),
        "dmax_order": dmax_order,
        "render_calls": render_calls,
    }
    t["stats"] = time.perf_counter() - t0
    result = BuildResult(
        mode=mode, entries=entries, images=used_images, annotations=used_ann,
        quarantine=prep.quarantine, stats=stats, accounting=accounting, timings=t,
    )
    if write:
        t0 = time.perf_counter()
        write_build(result, tables, cfg, tasks)
        t["write"] = time.perf_counter() - t0
    if entries.height == 0:  # written first: quarantine.csv and stats.json say why
        raise empty_build_error(mode, accounting, out if write else None)
    return result


def write_build(result: BuildResult, tables: SourceTables, cfg: BuildConfig, tasks: Mapping[str, TaskSpec]) -> Path:
    """Write the dataset directory (layout in docs/architecture.md); returns ``cfg.out``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("llava", "hf"):  # stale exports of an earlier build would contradict the manifest
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)
    clock = time.perf_counter()
    # Three independent groups of files are written on three threads (polars releases the GIL while it
    # encodes, so the ~1 GB LLaVA JSONL, the parquet tables and the HF parquet share both cores instead
    # of taking turns), and each file is hashed for the manifest right after it is written, while it is
    # in the page cache, beside the other writes (the manifest then re-reads nothing).
    # (Starting the entries' files before the stats gained nothing: polars' one thread pool then ran
    # the stats after the writes.)
    done: dict[str, float] = {}

    def hashed(name: str, write: Callable[[], list[Path]]) -> dict[Path, str]:
        paths = write()
        got = {p: file_sha256(p) for p in paths}
        done[name] = time.perf_counter()
        return got

    def table_files() -> list[Path]:
        paths = [out / "images.parquet", out / "annotations.parquet", out / "entries.parquet",
                 out / "quarantine.csv", out / "stats.json", out / "tasks.json"]
        result.images.write_parquet(paths[0])
        result.annotations.write_parquet(paths[1])
        result.entries.write_parquet(paths[2])
        result.quarantine.write_csv(paths[3])
        paths[4].write_text(json.dumps(result.stats, indent=2) + "\n")
        paths[5].write_text(json.dumps({n: s.describe() for n, s in tasks.items()}, indent=2) + "\n")
        return paths

    jobs = [("tables", table_files)]
    if cfg.export_llava:
        jobs.append(("llava", lambda: write_llava(result.entries, out)))
    if cfg.export_hf:
        jobs.append(("hf", lambda: write_hf(result.entries, out, tables.data_root, embed=cfg.hf_embed_images)))
    hashes: dict[Path, str] = {}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for got in [pool.submit(hashed, name, job) for name, job in jobs]:
            hashes.update(got.result())
    # write_tables: until the tables are written and hashed; write_exports: from then until the last export is
    result.timings["write_tables"] = done["tables"] - clock
    result.timings["write_exports"] = max(done.values()) - done["tables"]
    clock = time.perf_counter()
    # HF files holding absolute image paths depend on where the sources are: outside the id, with the
    # files that point at locations (written once the id is known; see imax.builders.export).
    located = {p: h for p, h in hashes.items() if p.parent.name == "hf" and not cfg.hf_embed_images}
    content = {p: h for p, h in hashes.items() if p not in located}
    manifest = make_manifest(tables, cfg, out, list(content), result.accounting, hashes=content)
    if cfg.export_llava or cfg.export_hf:
        counts = {s: v["entries"] for s, v in result.stats["per_split"].items()}
        exports, pointers = write_pointers(out, manifest, counts, llava=cfg.export_llava, hf=cfg.export_hf,
                                           embed=cfg.hf_embed_images)
        located |= {p: file_sha256(p) for p in pointers}
        manifest["exports"] = exports | {"located_outputs": {
            str(p.resolve().relative_to(out.resolve())): h for p, h in sorted(located.items())}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    result.timings["write_manifest"] = time.perf_counter() - clock
    result.out, result.manifest = out, manifest
    return out


def build_from_sources(cfg: BuildConfig, tasks: Mapping[str, TaskSpec] | None = None) -> BuildResult:
    """Read ``cfg.sources`` with ``imax.sources.read_sources`` and build (the ``imax build`` path)."""
    from imax.sources import read_sources

    sources_cfg = replace(cfg.sources_cfg, strict=True) if cfg.strict else cfg.sources_cfg
    t0 = time.perf_counter()
    tables = read_sources(Path(cfg.sources), sources_cfg)
    read_s = time.perf_counter() - t0
    result = build_dataset(tables, cfg, tasks=tasks)
    result.timings = {"read_sources": read_s, **result.timings}
    return result


def build_arms_from_sources(cfg: BuildConfig, tasks: Mapping[str, TaskSpec] | None = None,
                            outs: Mapping[str, Path] | None = None) -> tuple[dict[str, BuildResult], Any]:
    """Read ``cfg.sources`` once and build both arms (:func:`build_arms`); returns (results, tables)."""
    from imax.sources import read_sources

    sources_cfg = replace(cfg.sources_cfg, strict=True) if cfg.strict else cfg.sources_cfg
    t0 = time.perf_counter()
    tables = read_sources(Path(cfg.sources), sources_cfg)
    read_s = time.perf_counter() - t0
    results = build_arms(tables, cfg, outs=outs, tasks=tasks)
    for r in results.values():
        r.timings = {"read_sources": read_s, **r.timings}
    return results, tables


def format_accounting(result: BuildResult) -> str:
    """Human-readable accounting: per input file read/used/quarantined; per task annotations → entries."""
    acc = result.accounting
    lines = [f"{'source':<12} {'file':<44} {'read':>9} {'used':>9} {'quarant.':>9}"]
    for i in acc["inputs"]:
        lines.append(f"{i['source']:<12} {i['file'][:44]:<44} {i['read']:>9} {i['used']:>9} {i['quarantined']:>9}")
        if i.get("error"):
            lines.append(f"{'':<15}NOT READ: {i['error']}")
    for m in acc.get("missing_sources", []):
        lines.append(f"{m['source']:<12} {'NOT FOUND (0 files)':<44} {0:>9} {0:>9} {0:>9}")
        nf = NotFound(**{k: m[k] for k in NotFound.__dataclass_fields__})
        lines.extend(f"{'':<15}{text}" for text in nf.lines())
    lines.append(f"orphan annotations (no image row) quarantined by build: {acc['orphan_annotations']}")
    lines.append("")
    lines.append(f"{'task':<12} {'annotations':>12} {'quarant.':>9} {'entries':>9} {'unused':>9}")
    for task, r in acc["tasks"].items():
        lines.append(f"{task:<12} {r['annotations']:>12} {r['quarantined']:>9} {r['entries']:>9} {r['unused']:>9}")
    s = result.stats
    lines.append("")
    lines.append(
        f"{result.mode}: {s['images']} images, {s['entries']} entries, "
        f"{s['mean_tasks_per_image']:.2f} tasks/image, {s['mean_entries_per_image']:.2f} entries/image"
    )
    for split, b in s["per_split"].items():
        lines.append(f"  {split:<5} {b['images']:>8} images {b['entries']:>9} entries "
                     f"{b['mean_tasks_per_image']:.2f} tasks/image")
    return "\n".join(lines)
