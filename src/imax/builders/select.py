"""Which annotations become entries: the shared test set, IMAX, and DMAX.

Rules (each a fixed function of the store, the config and the seed):

* **Test** (both modes): images of test patients with annotations of >= ``min_tasks`` distinct tasks,
  every annotation of them (optionally the first ``max_test_images`` by seeded image hash).
* **IMAX** (train, val): the same rule on train/val patients. ``max_entries_per_task`` keeps eligible
  images in one seeded order, with all their annotations, until the first task reaches the cap.
* **DMAX** (train, val): per split, the per-task entry volumes of IMAX, exactly. The pool of task t is
  every image of the split's patients that has task t (IMAX-eligible images included: excluding them
  would make DMAX a different population of images, e.g. laterals only, not a different spread).
  Tasks are served scarcest first (largest demand / remaining supply, re-evaluated after each task),
  each drawing whole images in seeded random order, fresh images (no task yet) before images that
  already carry a task, under the cap ``dmax_tasks_per_image``; the last image of a task may give only
  part of its annotations so the volume is exact. A task the pool cannot serve under the cap fails
  the build with the numbers. ``dmax_target_overlap`` instead asks each task to reuse as many already
  drawn images as keep the running mean tasks per image near the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from imax.builders.hashing import seeded_unit, str_keys
from imax.builders.splits import configured_val_ratio
from imax.schema.config.build import BuildConfig
from imax.schema.errors import ImaxError

IMAGE_SALT = 0x1A6E_0001
"""Salt of the seeded image order used by caps (both modes)."""
DMAX_SALT = 0xD3A7_0002
"""Salt of the DMAX draw order (independent of the cap order)."""
TASK_QUOTA_SALT = 0x7A5C_0003
"""Salt (plus the task's index) of the order in which ``max_images_per_task`` trims a task."""
PAIR_SALT = 0x9A12_0004
"""Salt of the order in which ``max_entries_per_image_task`` keeps an (image, task)'s annotations."""


class DmaxPoolError(ImaxError):
    """DMAX cannot match a task's IMAX volume from the decentralized pool under the config's cap."""


@dataclass
class Selection:
    """Annotations chosen as entries, with their split and per-(image, task) ordinal ``k``."""

    rows: pl.DataFrame
    """Store annotation columns + subject_id, n_tasks, split, k (entry ordinal within image and task)."""
    dmax_order: list[str]
    """Order in which DMAX served the tasks per split (empty for IMAX), for the accounting print."""


def prepare(annotations: pl.DataFrame, images: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Attach split, image path (``image``), entry ordinal ``k``, the integer image key ``_key`` and
    seeded image hashes (``u_cap``, ``u_dmax``) to annotations (``images``: with the imax split).

    Rows are sorted by image (``_key``, then ``dicom_id``), task, source, query. ``k`` counts annotations
    of one (image, task) in (source, query) order: content-based, so the entry id ``dicom_id:task:k``
    does not depend on the order the readers emitted rows. ``_row`` is the row's place in that order
    (entries keep it: sorting by it is sorting by image, task, k).
    """
    keys = str_keys(images["dicom_id"])
    per_image = images.select(
        "dicom_id", "split", pl.col("path").alias("image"),
        pl.Series("_key", keys), pl.Series("u_cap", seeded_unit(keys, seed, IMAGE_SALT)),
        pl.Series("u_dmax", seeded_unit(keys, seed, DMAX_SALT)),
    )
    # The image's rank in (_key, dicom_id) order rides along the join: the integer key leads, dicom_id
    # breaks the astronomically rare ties, so the order stays a fixed function of the content.
    # _drank (the dicom_id's rank) lets the cap order sort on integers too.
    per_image = per_image.sort("_key", "dicom_id").with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_img"), pl.col("dicom_id").rank("ordinal").alias("_drank")
    )
    df = annotations.join(per_image, on="dicom_id", how="left")
    df = df[_sort_order(df)].drop("_img")
    # k = row index minus the index of its group's first row (10x cheaper than a window over two strings)
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    first = (pl.col("dicom_id") != pl.col("dicom_id").shift()) | (pl.col("task") != pl.col("task").shift())
    return df.with_columns(
        (idx - pl.when(first.fill_null(True)).then(idx).otherwise(None).forward_fill()).alias("k"),
        idx.alias("_row"),
    )


def _sort_order(df: pl.DataFrame) -> pl.Series:
    """Row order by (image rank ``_img``, task, source, query), stable, as integer work.

    Sorting on the strings themselves row-encodes every query (~4 s at MIMIC size); instead each string
    column becomes its rank among its sorted distinct values (the same order), and the ranks are packed
    into one uint64 when they fit (a single-key radix sort)."""
    if df.height == 0:  # no annotations (e.g. every source file unreadable): nothing to order
        return pl.Series("_img", [], dtype=pl.UInt32)
    if any(df[c].null_count() for c in ("_img", "task", "source", "query")):  # not in a valid store
        return df.select(pl.arg_sort_by("_img", "task", "source", "query", maintain_order=True)).to_series()
    ranks = [df["_img"].cast(pl.UInt64)]
    sizes = [int(df["_img"].max() or 0) + 1]
    for col in ("task", "source", "query"):
        distinct = df[col].unique().sort()
        codes = pl.int_range(len(distinct), dtype=pl.UInt64, eager=True)
        # return_dtype: the codes stay integers even when polars cannot infer it (no distinct value)
        ranks.append(df[col].replace_strict(distinct, codes, return_dtype=pl.UInt64))
        sizes.append(len(distinct))
    bits = [max(1, (n - 1).bit_length()) for n in sizes]
    if sum(bits) > 64:
        frame = pl.DataFrame(ranks)
        return frame.select(pl.arg_sort_by(frame.columns, maintain_order=True)).to_series()
    packed = ranks[0]
    for r, b in zip(ranks[1:], bits[1:], strict=True):
        packed = packed * (1 << b) + r
    return packed.to_frame("k").select(pl.arg_sort_by("k", maintain_order=True)).to_series()


def select_test(prepared: pl.DataFrame, cfg: BuildConfig) -> pl.DataFrame:
    """The shared image-centric test set (independent of ``cfg.mode``)."""
    test = prepared.filter((pl.col("split") == "test") & (pl.col("n_tasks") >= cfg.min_tasks))
    if cfg.max_test_images is not None:
        keep = (
            test.select("dicom_id", "u_cap").unique("dicom_id").sort("u_cap", "dicom_id").head(cfg.max_test_images)
        )
        test = test.join(keep.select("dicom_id"), on="dicom_id", how="semi")
    return test


def _cap_for(split: str, cfg: BuildConfig, val_ratio: float | None) -> int | None:
    if cfg.max_entries_per_task is None:
        return None
    if split == "train":
        return cfg.max_entries_per_task
    if val_ratio is None:  # the hash split's configured fractions
        val_ratio = configured_val_ratio(cfg.val_fraction, cfg.test_fraction)
    return math.ceil(cfg.max_entries_per_task * val_ratio)


def select_imax(prepared: pl.DataFrame, cfg: BuildConfig, val_ratio: float | None = None) -> pl.DataFrame:
    """IMAX train + val annotations (image-centric, optionally capped: ``max_images``, then
    ``max_images_per_task``, then the per-split ``max_entries_per_task`` stop rule).

    ``val_ratio``: val : train size of the split in use (the split record's ``val_cap_ratio``); the val
    cap is ``ceil(max_entries_per_task * val_ratio)``. None: the hash split's configured fractions."""
    pool = prepared.filter(pl.col("split").is_in(["train", "val"]) & (pl.col("n_tasks") >= cfg.min_tasks))
    if cfg.max_images is not None or cfg.max_images_per_task is not None:
        kept = limit_pairs(image_task_pairs(pool), cfg.max_images, cfg.max_images_per_task, cfg.min_tasks, cfg.seed)
        pool = pool.join(kept.select("dicom_id", "task"), on=["dicom_id", "task"], how="semi")
    parts = []
    for split in ("train", "val"):
        part = pool.filter(pl.col("split") == split)
        cap = _cap_for(split, cfg, val_ratio)
        if cap is not None:
            part = _cap_images(part, cap)
        parts.append(part)
    return pl.concat(parts)


def image_task_pairs(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per (image, task) of ``rows``: dicom_id, task, n (annotations), u_cap, _key."""
    return rows.group_by("dicom_id", "task").agg(pl.len().alias("n"), pl.col("u_cap").first(),
                                                 pl.col("_key").first())


def limit_pairs(pairs: pl.DataFrame, max_images: int | None, max_images_per_task: int | None, min_tasks: int,
                seed: int) -> pl.DataFrame:
    """The (image, task) pairs IMAX keeps under ``max_images`` and ``max_images_per_task``.

    ``max_images``: the first N images in the seeded cap order (``u_cap``, then dicom_id).
    ``max_images_per_task``: tasks are trimmed largest excess first (ties by name); a task over the cap
    leaves the images that carry the most tasks first (ties: a seeded per-(image, task) order), so the
    trim lowers tasks per image without breaking images below ``min_tasks``; images that still fall
    below it are dropped whole (the cap is a cap: never exceeded).
    """
    if max_images is not None:
        first = pairs.select("dicom_id", "u_cap").unique("dicom_id").sort("u_cap", "dicom_id").head(max_images)
        pairs = pairs.join(first.select("dicom_id"), on="dicom_id", how="semi")
    if max_images_per_task is None or pairs.height == 0:
        return pairs
    keep = quota_mask(pairs, max_images_per_task, min_tasks, seed)
    return pairs.filter(pl.Series(keep))


def quota_mask(pairs: pl.DataFrame, cap: int, min_tasks: int, seed: int) -> np.ndarray:
    """Boolean mask over ``pairs`` (dicom_id, task, _key): the pairs kept under ``cap`` images per task
    (rule in :func:`limit_pairs`). Array work: the trim visits each over-cap task once."""
    image = pairs["dicom_id"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    tasks = sorted(set(pairs["task"].to_list()))
    task = pairs["task"].replace_strict({t: i for i, t in enumerate(tasks)}, return_dtype=pl.Int64).to_numpy()
    keys = pairs["_key"].to_numpy().astype(np.uint64)
    count = np.bincount(image, minlength=int(image.max()) + 1 if len(image) else 0)
    keep = np.ones(len(image), dtype=bool)
    per_task = np.bincount(task, minlength=len(tasks))
    order = sorted(range(len(tasks)), key=lambda i: (-(per_task[i] - cap), tasks[i]))
    for t in order:
        n_drop = int(per_task[t]) - cap
        if n_drop <= 0:
            continue
        rows = np.flatnonzero(task == t)
        u = seeded_unit(keys[rows], seed, TASK_QUOTA_SALT + t)
        # most tasks first (negated count sorts descending), then the seeded order
        drop = rows[np.lexsort((u, -count[image[rows]]))[:n_drop]]
        keep[drop] = False
        np.subtract.at(count, image[drop], 1)
    return keep & (count[image] >= min_tasks)


def cap_pairs(prepared: pl.DataFrame, k: int | None, seed: int) -> pl.DataFrame:
    """At most ``k`` annotations per (image, task), chosen in a seeded order of their ordinals (all splits,
    both modes). Entry ids keep their ordinal ``k``; ``_kk`` is the dense ordinal DMAX takes by."""
    if k is None:
        return prepared
    if k < 1:
        raise ImaxError(f"max_entries_per_image_task must be >= 1, got {k}")
    u = seeded_unit(prepared["_key"].to_numpy() ^ prepared["k"].cast(pl.UInt64).to_numpy(), seed, PAIR_SALT)
    kept = prepared.with_columns(pl.Series("_u", u)).filter(
        pl.col("_u").rank("ordinal").over("dicom_id", "task") <= k).drop("_u")
    return kept.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("dicom_id", "task").alias("_kk"))


def _cap_images(part: pl.DataFrame, cap: int) -> pl.DataFrame:
    """Eligible images in seeded order with ALL their annotations, up to the image at which the first
    task reaches ``cap`` entries (that task is cut at exactly ``cap``). Every kept image keeps all its
    tasks (only the last may lose part of one), so capping does not thin the image-centric structure."""
    # Seeded image order, then (task, k) in the image. Rows from prepare() sort on integers: the
    # dicom_id's rank, and _row, which within an image runs in (task, k) order.
    integer = "_drank" in part.columns and "_row" in part.columns
    image = "_drank" if integer else "dicom_id"
    part = part.sort(["u_cap", "_drank", "_row"] if integer else ["u_cap", "dicom_id", "task", "k"]).with_columns(
        # image rank in the seeded order: count image changes down the sorted rows (no string rank)
        (pl.col(image) != pl.col(image).shift()).fill_null(True).cum_sum().alias("_img"),
        pl.int_range(pl.len()).over("task").alias("_r"),
    )
    full = part.filter(pl.col("_r") == cap - 1)
    stop = full["_img"].min() if full.height else None
    if stop is None:
        return part.drop("_img", "_r")
    return part.filter((pl.col("_img") <= stop) & (pl.col("_r") < cap)).drop("_img", "_r")


def select_dmax(prepared: pl.DataFrame, imax: pl.DataFrame, cfg: BuildConfig) -> tuple[pl.DataFrame, list[str]]:
    """DMAX train + val annotations with IMAX's per-split, per-task volumes (see module docstring)."""
    cap = cfg.dmax_tasks_per_image
    target = cfg.dmax_target_overlap
    if cap < 1:
        raise ValueError(f"dmax_tasks_per_image must be >= 1, got {cap}")
    if target is not None and (target < 1.0 or math.ceil(target) > cap):
        raise ValueError(f"dmax_target_overlap={target} needs 1 <= target <= dmax_tasks_per_image={cap}")
    parts, order = [], []
    for split in ("train", "val"):
        demand = dict(imax.filter(pl.col("split") == split).group_by("task").len("n").iter_rows())
        # exact integer image codes, so the draw groups and joins millions of rows on integers: the
        # dicom_id's rank from prepare(), else a categorical code
        code = pl.col("_drank") if "_drank" in prepared.columns else pl.col("dicom_id").cast(pl.Categorical).to_physical()
        pool = prepared.filter(pl.col("split") == split).with_columns(code.alias("_img"))
        takes, served = _draw(pool, demand, cap, target, split)
        order += [f"{split}:{t}" for t in served]
        ordinal = "_kk" if "_kk" in pool.columns else "k"  # dense after cap_pairs
        chosen = pool.join(takes, on=["_img", "task"], how="inner").filter(pl.col(ordinal) < pl.col("take"))
        parts.append(chosen.drop("take", "_img"))
    return pl.concat(parts), order


def _draw(
    pool: pl.DataFrame, demand: dict[str, int], cap: int, target: float | None, split: str
) -> tuple[pl.DataFrame, list[str]]:
    """Assign (image, task, take) so every task gets exactly ``demand[task]`` annotations."""
    pairs = pool.group_by("_img", "task").agg(pl.len().alias("n"), pl.col("u_dmax").first(), pl.col("_key").first())
    used = pl.DataFrame(schema={"_img": pool.schema["_img"], "count": pl.Int64})
    takes: list[pl.DataFrame] = []
    remaining = {t: n for t, n in demand.items() if n > 0}
    served: list[str] = []
    n_pairs = 0
    while remaining:
        open_pairs = (
            pairs.filter(pl.col("task").is_in(list(remaining)))
            .join(used, on="_img", how="left")
            .with_columns(pl.col("count").fill_null(0))
            .filter(pl.col("count") < cap)
        )
        supply = dict(open_pairs.group_by("task").agg(pl.col("n").sum()).iter_rows())
        # Scarcest first: the task whose demand eats the largest share of what is still open to it.
        task = max(sorted(remaining), key=lambda t: remaining[t] / max(supply.get(t, 0), 1e-9))
        need = remaining.pop(task)
        have = int(supply.get(task, 0))
        if have < need:
            raise DmaxPoolError(
                f"DMAX {split}: task '{task}' needs {need} entries (IMAX volume) but only {have} annotations "
                f"remain on {split} images carrying fewer than dmax_tasks_per_image={cap} tasks "
                f"(pool of task '{task}' in {split}: {int(pairs.filter(pl.col('task') == task)['n'].sum())}). "
                "Use --max-entries-per-task auto (the largest IMAX cap DMAX can match; the default) or raise "
                "--dmax-tasks-per-image to allow images to carry more tasks."
            )
        cand = open_pairs.filter(pl.col("task") == task)
        cand = cand.with_columns(_priority(cand, need, target, used.height, n_pairs).alias("prio"))
        cand = cand.sort("prio", "u_dmax", "_key")  # codes are per-build; u_dmax/_key are fixed per id
        cum = cand["n"].cum_sum()
        before = cum - cand["n"]
        chosen = cand.with_columns(before.alias("before")).filter(pl.col("before") < need)
        chosen = chosen.with_columns(pl.min_horizontal(pl.col("n"), need - pl.col("before")).alias("take"))
        takes.append(chosen.select("_img", "task", pl.col("take").cast(pl.Int64)))
        n_pairs += chosen.height
        bump = chosen.select("_img", pl.lit(1, pl.Int64).alias("count"))
        used = pl.concat([used, bump]).group_by("_img").agg(pl.col("count").sum())
        served.append(task)
    if not takes:
        return pl.DataFrame(schema={"_img": pool.schema["_img"], "task": pl.String, "take": pl.Int64}), served
    return pl.concat(takes), served


def _priority(cand: pl.DataFrame, need: int, target: float | None, n_images: int, n_pairs: int) -> pl.Series:
    """Sort priority of candidate images for one task (lower first).

    Default: by how many tasks the image already carries (fresh images first). With a target overlap
    m: the first r already-used images first, then fresh ones, where r keeps (pairs / images) near m
    after this task: r = images + n_t - (pairs + n_t) / m, with n_t the images this task will take.
    """
    count = cand["count"].to_numpy()
    if target is None:
        return pl.Series(count.astype(np.int64))
    n_t = need / max(float(cand["n"].mean() or 1.0), 1.0)  # type: ignore[arg-type]
    reused = count > 0
    r = round(n_images + n_t - (n_pairs + n_t) / target)
    r = max(0, min(r, int(reused.sum())))
    order = np.argsort(cand["u_dmax"].to_numpy(), kind="stable")
    prio = np.where(reused, 2, 1).astype(np.int64)
    first_reused = order[reused[order]][:r]
    prio[first_reused] = 0
    return pl.Series(prio)
