"""Benchmark ``read_sources`` + ``build_dataset`` on MIMIC-sized synthetic inputs (no pixels).

Writes all seven sources at their real row counts and in their native formats into a temp folder
(generation is not timed), then runs read + build in a child process (so its peak RSS is its own:
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child) with image checks off, and saves the per-stage seconds
and peak RSS to ``benchmarks/results/build.json``.

    .venv/bin/python benchmarks/build.py                 # full MIMIC size
    .venv/bin/python benchmarks/build.py --scale 0.1     # a tenth (quick look)

Sizes (source-formats.md): 377,110 images / 227,835 studies / 65,379 patients; views AP 147,173,
PA 96,161, LATERAL 82,853, LL 35,133, rest blank; chexpert rows 227,827 studies; CTRs/CPARs 96,161 (every
PA image); edema regex 6,710 / expert 485 / consensus 141; CXR-LT 2023 train 264,849 + development +
test = every image; CheXmask MIMIC-CXR-JPG.csv one row per frontal image (AP + PA = 243,334) with
row-run RLE masks on the 1024 × 1024 Preprocessed canvas (≈ 700 runs per lung, as real masks have one
run per mask row; ≈ 20 KB a row); VQA 377,391 questions on ≈ 95K frontal images; reports as MIT-LCP's
``mimic_cxr_sectioned.csv`` (227,835 studies).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from imax.schema.records import CHEXPERT14, CXRLT26

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "build.json"

N_IMAGES, N_STUDIES, N_PATIENTS = 377_110, 227_835, 65_379
VIEWS = {"AP": 147_173, "PA": 96_161, "LATERAL": 82_853, "LL": 35_133}
N_CHEXPERT, N_VQA, N_VQA_IMAGES = 227_827, 377_391, 95_000
EDEMA = {"regex": 6_710, "expert": 485, "consensus": 141}
CXRLT_TRAIN, CXRLT_DEV = 264_849, 37_420
VECTORISED_SIDES = {"rec": 1, "reg": 1}
"""Render sides (instruction, response) per task that imax.builders.render does without the task table."""


# ---- generation (not timed) ----------------------------------------------------------------------------
def _ids(rng: np.random.Generator, n: int) -> list[str]:
    a = rng.integers(0, 2**63, size=(n, 3), dtype=np.int64)
    return [f"{x:016x}{y:016x}{z:016x}"[:40] for x, y, z in a.tolist()]


def _dashed(hexes: list[str]) -> list[str]:
    return [f"{h[:8]}-{h[8:16]}-{h[16:24]}-{h[24:32]}-{h[32:40]}" for h in hexes]


def _gz_csv(df: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=1) as f:
        df.write_csv(f)


def _rle_templates(rng: np.random.Generator, n: int, cx: float, cy: float, rx: float, ry: float) -> list[str]:
    """``n`` jittered ellipses on 1024 × 1024 encoded as CheXmask RLE (1-based starts, row-major)."""
    out = []
    for _ in range(n):
        x0, y0 = cx + rng.normal(0, 15), cy + rng.normal(0, 15)
        ax, ay = rx * rng.uniform(0.9, 1.1), ry * rng.uniform(0.9, 1.1)
        rows = np.arange(int(y0 - ay) + 1, int(y0 + ay))
        half = ax * np.sqrt(np.clip(1 - ((rows - y0) / ay) ** 2, 0, 1))
        c0 = np.clip((x0 - half).astype(int), 0, 1023)
        c1 = np.clip((x0 + half).astype(int), 0, 1023)
        keep = c1 > c0
        starts = rows[keep] * 1024 + c0[keep] + 1
        lengths = c1[keep] - c0[keep] + 1
        out.append(" ".join(f"{s} {n_}" for s, n_ in zip(starts.tolist(), lengths.tolist(), strict=True)))
    return out


def generate(root: Path, scale: float = 1.0, seed: int = 0) -> dict[str, int]:
    """Write every source under ``root``; returns row counts per file."""
    rng = np.random.default_rng(seed)
    s = lambda n: max(1, round(n * scale))  # noqa: E731
    n_img, n_study, n_pat = s(N_IMAGES), s(N_STUDIES), s(N_PATIENTS)
    # patients → studies → images: every patient has a study, every study an image
    study_patient = np.sort(np.concatenate([np.arange(n_pat), rng.integers(0, n_pat, n_study - n_pat)]))
    image_study = np.sort(np.concatenate([np.arange(n_study), rng.integers(0, n_study, n_img - n_study)]))
    subjects = 10_000_000 + np.sort(rng.choice(9_000_000, n_pat, replace=False))
    studies = 50_000_000 + rng.choice(9_000_000, n_study, replace=False)
    views = np.concatenate([np.full(s(v), k, dtype=object) for k, v in VIEWS.items()])
    views = np.concatenate([views, np.full(max(0, n_img - len(views)), "", dtype=object)])[:n_img]
    rng.shuffle(views)
    dicom = _dashed(_ids(rng, n_img))
    img = pl.DataFrame({
        "dicom_id": dicom,
        "subject_id": subjects[study_patient[image_study]],
        "study_id": studies[image_study],
        "ViewPosition": views.tolist(),
    })
    mimic = root / "mimic-cxr-jpg"
    meta = img.with_columns(
        PerformedProcedureStepDescription=pl.lit("CHEST (PA AND LAT)"),
        Rows=pl.lit(3056), Columns=pl.lit(2544), StudyDate=pl.lit(21800506), StudyTime=pl.lit(80556.875),
        ProcedureCodeSequence_CodeMeaning=pl.lit("CHEST (PA AND LAT)"),
        ViewCodeSequence_CodeMeaning=pl.lit("postero-anterior"),
        PatientOrientationCodeSequence_CodeMeaning=pl.lit("Erect"),
    ).select("dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
             "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
             "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning")
    _gz_csv(meta.with_columns(pl.col("ViewPosition").replace("", None)), mimic / "mimic-cxr-2.0.0-metadata.csv.gz")
    split = rng.choice(["train", "validate", "test"], n_pat, p=[0.9876, 0.0079, 0.0045])[study_patient[image_study]]
    _gz_csv(img.select("dicom_id", "study_id", "subject_id").with_columns(split=pl.Series(split)),
            mimic / "mimic-cxr-2.0.0-split.csv.gz")
    # chexpert: one row per labelled study, values 1.0 / 0.0 / -1.0 / blank
    st = pl.DataFrame({"subject_id": subjects[study_patient], "study_id": studies}).head(s(N_CHEXPERT))
    vals = rng.choice(np.array([None, None, None, None, 1.0, 0.0, -1.0], dtype=object), size=(st.height, 14))
    chex = st.with_columns([pl.Series(c, vals[:, i].tolist(), dtype=pl.Float64) for i, c in enumerate(CHEXPERT14)])
    _gz_csv(chex, mimic / "mimic-cxr-2.0.0-chexpert.csv.gz")
    # cardiomegaly: every PA image
    pa = img.filter(pl.col("ViewPosition") == "PA")
    card = root / "cxr-cardiomegaly"
    card.mkdir(parents=True, exist_ok=True)
    for name, col, lo, hi in (("CTRs.csv", "CTR", 0.35, 0.65), ("CPARs.csv", "CPAR", 0.2, 0.5)):
        pa.select(pl.col("dicom_id").alias("dicom_file"),
                  pl.Series(col, np.round(rng.uniform(lo, hi, pa.height), 6))).write_csv(card / name)
    # edema: a CHF cohort of ~1,900 patients
    frontal = img.filter(pl.col("ViewPosition").is_in(["AP", "PA"]))
    cohort = frontal.filter(pl.col("subject_id").is_in(pl.Series(subjects[: max(1, s(1_916))]).implode()))
    ed = root / "mimic-cxr-pe-severity"
    ed.mkdir(parents=True, exist_ok=True)
    cst = cohort.select("subject_id", "study_id").unique(maintain_order=True)
    for name, n in (("regex", EDEMA["regex"]), ("expert", EDEMA["expert"])):
        part = cst.sample(min(cst.height, s(n)), seed=seed)
        part.with_columns(edema_severity=pl.Series(rng.integers(0, 4, part.height))).write_csv(
            ed / f"{name}_report_edema_severity.csv")
    cons = cohort.sample(min(cohort.height, s(EDEMA["consensus"])), seed=seed)
    cons.select("subject_id", "study_id", "dicom_id").with_columns(
        edema_severity=pl.Series(rng.integers(0, 4, cons.height))).write_csv(ed / "consensus_image_edema_severity.csv")
    # CXR-LT 2023: every image, 26 binary labels
    lt_labels = CXRLT26
    lab = (rng.random((n_img, 26)) < 0.06).astype(np.int8)
    lt = img.with_columns(
        ViewCodeSequence_CodeMeaning=pl.lit("postero-anterior"),
        path=pl.format("files/p{}/p{}/s{}/{}.jpg", pl.col("subject_id").cast(pl.String).str.slice(0, 2),
                       "subject_id", "study_id", "dicom_id"),
    ).select("dicom_id", "subject_id", "study_id", "ViewPosition", "ViewCodeSequence_CodeMeaning", "path")
    lt = lt.with_columns([pl.Series(c, lab[:, i]) for i, c in enumerate(lt_labels)])
    ltd = root / "cxr-lt-iccv-workshop-cvamd" / "cxr-lt-2023"
    ltd.mkdir(parents=True, exist_ok=True)
    a, b = s(CXRLT_TRAIN), s(CXRLT_TRAIN) + s(CXRLT_DEV)
    lt[:a].write_csv(ltd / "train.csv")
    lt[a:b].write_csv(ltd / "development.csv")
    lt[b:].write_csv(ltd / "test.csv")
    # CheXmask: one row per frontal image, RLE masks from jittered templates (vectorised pick)
    k = 128
    tmpl = {
        "Right Lung": _rle_templates(rng, k, 300, 500, 170, 330),
        "Left Lung": _rle_templates(rng, k, 724, 500, 170, 330),
        "Heart": _rle_templates(rng, k, 540, 640, 150, 150),
    }
    landmarks = [",".join(map(str, rng.integers(0, 1024, 240).tolist())) for _ in range(k)]
    cm = frontal.select("dicom_id").with_columns(
        # ~5 % below the README's 0.7 quality cut, like a real release
        pl.Series("Dice RCA (Mean)", np.round(np.where(rng.random(frontal.height) < 0.05,
                                                       rng.uniform(0.4, 0.7, frontal.height),
                                                       rng.uniform(0.7, 0.97, frontal.height)), 4)),
        pl.Series("Dice RCA (Max)", np.round(rng.uniform(0.8, 0.99, frontal.height), 4)),
        pl.Series("Landmarks", landmarks).gather(rng.integers(0, k, frontal.height)),
        *[pl.Series(name, t).gather(rng.integers(0, k, frontal.height)) for name, t in tmpl.items()],
        Height=pl.lit(1024), Width=pl.lit(1024),
    ).select("dicom_id", "Dice RCA (Mean)", "Dice RCA (Max)", "Landmarks", "Left Lung", "Right Lung", "Heart",
             "Height", "Width")
    cmd = root / "chexmask-cxr-segmentation-data" / "Preprocessed"
    cmd.mkdir(parents=True, exist_ok=True)
    cm.write_csv(cmd / "MIMIC-CXR-JPG.csv")
    # VQA: ~4 questions on each of ~95K frontal images; JSON list of objects per split
    vq_img = frontal.sample(min(frontal.height, s(N_VQA_IMAGES)), seed=seed)
    pick = rng.integers(0, vq_img.height, s(N_VQA))
    objects = ["left lower lung zone", "right lung", "cardiac silhouette", "left hilar structures", "mediastinum"]
    attrs = ["pleural effusion", "lung opacity", "atelectasis", "pneumonia", "enlarged cardiac silhouette"]
    obj = rng.integers(0, len(objects), len(pick))
    att = rng.integers(0, len(attrs), len(pick))
    q = vq_img[pick].with_columns(
        pl.Series("o", np.array(objects)[obj]), pl.Series("a", np.array(attrs)[att]),
        pl.Series("ans", rng.choice(["yes", "no"], len(pick))),
    )
    vqa = q.select(
        split=pl.lit("train"), idx=pl.int_range(pl.len()),
        subject_id=pl.col("subject_id").cast(pl.String), study_id=pl.col("study_id").cast(pl.String),
        image_id=pl.col("dicom_id"),
        image_path=pl.format("p{}/p{}/s{}/{}.jpg", pl.col("subject_id").cast(pl.String).str.slice(0, 2),
                             "subject_id", "study_id", "dicom_id"),
        question=pl.format("Is there {} in the {}?", "a", "o"),
        semantic_type=pl.lit("verify"), content_type=pl.lit("attribute"),
        template=pl.lit("Is there ${attribute} in the ${object}?"), template_program=pl.lit("program_3"),
        template_arguments=pl.struct(object=pl.struct(pl.col("o").alias("0")),
                                     attribute=pl.struct(pl.col("a").alias("0"))),
        answer=pl.concat_list("ans"),
    )
    vd = root / "mimic-ext-mimic-cxr-vqa" / "MIMIC-Ext-MIMIC-CXR-VQA" / "dataset"
    vd.mkdir(parents=True, exist_ok=True)
    n_tr, n_va = int(vqa.height * 0.88), int(vqa.height * 0.04)
    for name, part in (("train", vqa[:n_tr]), ("valid", vqa[n_tr:n_tr + n_va]), ("test", vqa[n_tr + n_va:])):
        part.with_columns(split=pl.lit(name)).write_json(vd / f"{name}.json")
    # reports: MIT-LCP sectioned CSV, one row per study
    sentences = np.array([
        "There is no focal consolidation, pleural effusion or pneumothorax.",
        "The cardiomediastinal silhouette is normal.", "Mild pulmonary vascular congestion.",
        "Heart size is mildly enlarged.", "Small left pleural effusion with adjacent atelectasis.",
        "Lungs are clear.", "No acute osseous abnormality.", "Endotracheal tube terminates 4 cm above the carina.",
        "Patchy opacity at the right lung base may reflect aspiration or pneumonia.",
        "Stable appearance of the chest compared to prior.",
    ])
    nsent = 4
    cols = [pl.Series(f"s{i}", sentences[rng.integers(0, len(sentences), n_study)]) for i in range(nsent)]
    rep = pl.DataFrame(cols).select(
        study=pl.format("s{}", pl.Series(studies)),
        impression=pl.col("s0"),
        findings=pl.concat_str([pl.col(f"s{i}") for i in range(1, nsent)], separator=" "),
        last_paragraph=pl.lit(None, pl.String), comparison=pl.lit("None."),
    )
    rd = root / "mimic-cxr-reports"
    rd.mkdir(parents=True, exist_ok=True)
    rep.write_csv(rd / "mimic_cxr_sectioned.csv")
    return {"images": n_img, "studies": n_study, "patients": n_pat, "chexpert": chex.height, "ctr": pa.height,
            "chexmask": cm.height, "vqa": vqa.height, "cxrlt": lt.height, "reports": rep.height}


# ---- timed child ---------------------------------------------------------------------------------------
def _save_tables(tables, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    tables.images.write_parquet(where / "images.parquet")
    tables.annotations.write_parquet(where / "annotations.parquet")
    tables.quarantine.write_parquet(where / "quarantine.parquet")
    (where / "inputs.json").write_text(json.dumps([i.__dict__ for i in tables.inputs]))


def _load_tables(where: Path, replicate: int):
    """Saved canonical tables, replicated ``replicate`` times with shifted ids (distinct images/patients)."""
    from imax.sources.base import InputFile, SourceTables

    images = pl.read_parquet(where / "images.parquet")
    ann = pl.read_parquet(where / "annotations.parquet")
    quarantine = pl.read_parquet(where / "quarantine.parquet")

    def shift(col: str, c: int) -> pl.Expr:
        # rotate the first hex digit: copies stay 44-char ids and never collide with each other
        head = pl.col(col).str.slice(0, 1).str.to_integer(base=16)
        return pl.concat_str([((head + c) % 16).replace_strict({i: f"{i:x}" for i in range(16)},
                                                                return_dtype=pl.String),
                              pl.col(col).str.slice(1)]).alias(col)

    copies_i, copies_a = [images], [ann]
    for c in range(1, replicate):
        copies_i.append(images.with_columns(shift("dicom_id", c), pl.col("subject_id") + c * 10_000_000,
                                            pl.col("study_id") + c * 10_000_000))
        copies_a.append(ann.with_columns(shift("dicom_id", c)))
    inputs = [InputFile(**{**d, **{k: d[k] * replicate for k in ("rows_read", "rows_used", "rows_quarantined")}})
              for d in json.loads((where / "inputs.json").read_text())]
    return SourceTables(images=pl.concat(copies_i), annotations=pl.concat(copies_a),
                        quarantine=pl.concat([quarantine] * replicate), inputs=inputs)


def child(root: Path, out: Path, mode: str, cap: int | None, tables_dir: Path | None, replicate: int,
          recipe: str = "none") -> None:
    """Read (or load saved tables) + build; prints one JSON line with stage seconds and sizes."""
    from imax.builders import build_dataset
    from imax.schema.config.build import BuildConfig
    from imax.schema.config.sources import SourcesConfig
    from imax.sources import read_sources

    cfg = BuildConfig(sources=root, out=out, mode=mode, max_entries_per_task=cap,  # type: ignore[arg-type]
                      sources_cfg=SourcesConfig(check_images=False), recipe=recipe)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    if tables_dir is not None and tables_dir.is_dir():
        tables, read_s = _load_tables(tables_dir, replicate), None
    else:
        tables = read_sources(root, cfg.sources_cfg)
        read_s = round(time.perf_counter() - t0, 2)
        if tables_dir is not None:
            _save_tables(tables, tables_dir)
    rss_before_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t0 = time.perf_counter()
    result = build_dataset(tables, cfg)
    build_s = time.perf_counter() - t0
    calls = result.accounting["render_calls"]
    us = _render_cost_us(result.entries)
    print(json.dumps({
        "read_sources_s": read_s, "build_dataset_s": round(build_s, 2),
        "tables": "read" if read_s is not None else f"loaded x{replicate}",
        "peak_rss_gb_before_build": round(rss_before_build, 2),
        "build_stages_s": {k: round(v, 2) for k, v in result.timings.items()},
        "images_in": tables.images.height, "annotations_in": tables.annotations.height,
        "split": result.stats["split"]["kind"], "split_counts": result.stats["split"]["counts"],
        "caps": result.stats["caps"], "recipe_vs_study": result.stats.get("recipe", {}).get("vs_study"),
        "mean_tasks_per_image": round(result.stats["mean_tasks_per_image"], 3),
        "mean_entries_per_image": round(result.stats["mean_entries_per_image"], 3),
        "entries": result.stats["entries"], "images_out": result.stats["images"],
        "mean_tasks_per_image_train": round(result.stats["per_split"]["train"]["mean_tasks_per_image"], 3),
        "per_task_entries": result.stats["per_task_entries"],
        "render_calls": calls,
        "render_us_per_call": {k: round(v, 1) for k, v in us.items()},
        # the synthetic CheXmask masks come from 128 templates per region, so rec/reg renders dedupe far
        # more than real (unique) boxes would: project the entries stage with every render distinct.
        # Only the sides rendered by the task table count: the box texts (rec response, reg
        # instruction) are vectorised (imax.builders.render; ~1.5 s per 1M distinct boxes).
        "render_s_if_all_distinct": round(sum((2 - VECTORISED_SIDES.get(t, 0)) * n * us[t] / 1e6 for t, n in
                                              result.stats["per_task_entries"].items()), 1),
        # ru_maxrss: KiB on Linux, the peak of this process (read + build only: it started fresh)
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }))


def _render_cost_us(entries: pl.DataFrame, n: int = 2000) -> dict[str, float]:
    """Measured µs per task-table call (render_instruction / format_answer), per task."""
    from imax.tasks import TASKS

    out = {}
    for task, spec in TASKS.items():
        rows = entries.filter(pl.col("task") == task).head(n).select("query", "answer").rows()
        if not rows:
            continue
        t0 = time.perf_counter()
        for i, (q, a) in enumerate(rows):
            qd = json.loads(q)
            spec.render_instruction(qd, i)
            spec.format_answer(qd, json.loads(a))
        out[task] = (time.perf_counter() - t0) / (2 * len(rows)) * 1e6
    return out


def run_child(root: Path, out: Path, mode: str, cap: int | None, tables: Path | None = None,
              replicate: int = 1, recipe: str = "none") -> dict:
    """One read + build in a fresh process (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--child", str(root), "--out", str(out), "--mode", mode,
           "--replicate", str(replicate), "--recipe", recipe]
    if cap is not None:
        cmd += ["--cap", str(cap)]
    if tables is not None:
        cmd += ["--tables", str(tables)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "POLARS_MAX_THREADS": "2"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_s"] = round(wall, 2)
    # 1-minute load average before and after the child: times are only comparable on an idle machine
    # (peak RSS does not depend on load)
    res["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    res["mode"], res["max_entries_per_task"], res["recipe"] = mode, cap, recipe
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the MIMIC row counts")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--mode", default="imax", help=argparse.SUPPRESS)
    p.add_argument("--cap", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--tables", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--recipe", default="none", help=argparse.SUPPRESS)
    p.add_argument("--results", type=Path, default=RESULTS, help="where to save the JSON (default: %(default)s)")
    p.add_argument("--replicate", type=int, default=1,
                   help="also time build_dataset alone on the read tables replicated N times (ids shifted), "
                        "e.g. --scale 0.25 --replicate 4 for a MIMIC-sized build without the reader's memory")
    p.add_argument("--keep", type=Path, default=None, help="generate into this folder and keep it")
    p.add_argument("--runs", default="imax,dmax:50000",
                   help="comma list of MODE[:CAP][@RECIPE] runs (default: uncapped IMAX, DMAX at a paper-like cap; "
                        "imax@paper: the --recipe paper build, its statistics next to the study's)")
    args = p.parse_args()
    if args.child is not None:
        child(args.child, args.out, args.mode, args.cap, args.tables, args.replicate, args.recipe)
        return
    with tempfile.TemporaryDirectory(prefix="imax-bench-") as tmp:
        root = args.keep or Path(tmp) / "sources"
        t0 = time.perf_counter()
        counts = generate(root, args.scale) if not (root / "mimic-cxr-jpg").is_dir() else {}
        gen_s = time.perf_counter() - t0
        size_gb = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) / 2**30
        print(f"generated {size_gb:.2f} GB in {gen_s:.0f} s: {counts}", flush=True)
        runs = []
        tables = Path(tmp) / "tables" if args.replicate > 1 else None
        for spec in args.runs.split(","):
            spec, _, recipe = spec.partition("@")
            mode, _, cap = spec.partition(":")
            res = run_child(root, Path(tmp) / f"out-{mode}", mode, int(cap) if cap else None, None,
                            recipe=recipe or "none")
            print(json.dumps(res), flush=True)
            runs.append(res)
        if tables is not None:  # build-only runs on replicated tables (first child reads and saves them)
            run_child(root, Path(tmp) / "out-save", "imax", 1, tables)
            for spec in args.runs.split(","):
                spec, _, recipe = spec.partition("@")
                mode, _, cap = spec.partition(":")
                res = run_child(root, Path(tmp) / f"out-{mode}-x", mode,
                                int(cap) * args.replicate if cap else None, tables, args.replicate,
                                recipe=recipe or "none")
                print(json.dumps(res), flush=True)
                runs.append(res)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "scale": args.scale, "replicate": args.replicate, "generated": counts, "input_gb": round(size_gb, 2), "cpus": os.cpu_count(),
        "runs": runs, "targets": {"seconds": 30, "peak_rss_gb": 4},
    }, indent=2) + "\n")
    print(f"saved {args.results}")


if __name__ == "__main__":
    main()
