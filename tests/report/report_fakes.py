"""Fakes for the report tests: a realistic ``results.json`` and a tiny built dataset, both in tmp_path.

Imported by name (``from .report_fakes import ...``); ``conftest.py`` wraps them as fixtures.

The fake images are drawn with PIL (a dark field, two lung fields, a heart) so thumbnails and box
overlays look like the real thing in the screenshots. ``assert_self_contained`` is the shared check that
a page fetches nothing.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from PIL import Image, ImageDraw

from imax.schema.box import Box
from imax.schema.records import ENTRY_COLUMNS, TASK_NAMES, polars_schema
from imax.tasks import TASKS

RUNS = ("imax", "dmax", "pseudo_imax")
LOWER_IS_BETTER = {"mae", "rmse"}


def draw_xray(path: Path, size: tuple[int, int], seed: int) -> dict[str, list[float]]:
    """A phantom chest X-ray JPEG; returns pixel xyxy boxes of heart, lungs and both lungs."""
    w, h = size
    rng = np.random.default_rng(seed)
    im = Image.new("L", size, 18)
    d = ImageDraw.Draw(im)
    d.rectangle((0.06 * w, 0.04 * h, 0.94 * w, 0.98 * h), fill=70)  # body
    rl = [0.14 * w, 0.14 * h, 0.47 * w, 0.84 * h]
    ll = [0.53 * w, 0.14 * h, 0.86 * w, 0.84 * h]
    d.ellipse(rl, fill=28)
    d.ellipse(ll, fill=28)
    heart = [0.38 * w, 0.48 * h, 0.70 * w, 0.82 * h]
    d.ellipse(heart, fill=150)
    d.rectangle((0.47 * w, 0.02 * h, 0.53 * w, 0.98 * h), fill=185)  # spine
    noise = rng.normal(0, 6, (h, w))
    arr = np.clip(np.asarray(im, dtype=float) + noise, 0, 255).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=90)
    both = [rl[0], rl[1], ll[2], ll[3]]
    return {"heart": heart, "right lung": rl, "left lung": ll, "both lungs": both}


def dicom_id(i: int) -> str:
    h = f"{i:08x}" * 5
    return f"{h[:8]}-{h[8:16]}-{h[16:24]}-{h[24:32]}-{h[32:40]}"


def _ci(v: float, half: float) -> list[float]:
    return [round(v - half, 4), round(v + half, 4)]


def _answers(boxes: dict[str, list[float]], size: tuple[int, int], k: int) -> dict[str, tuple[dict, dict]]:
    """(query, answer) per task for one image."""
    return {
        "calculation": ({"measure": "ctr"}, {"value": 0.47 + 0.01 * k}),
        "report": ({}, {"text": "The heart size is normal. No pleural effusion or pneumothorax."}),
        "multiclass": ({"label_space": "edema_severity"}, {"grade": k % 4}),
        "multilabel": ({"label_space": "chexpert14"}, {"labels": ["Cardiomegaly", "Pleural Effusion"]}),
        "rec": ({"phrase": "heart"}, {"box": boxes["heart"], "size": list(size)}),
        "reg": ({"box": boxes["left lung"], "size": list(size)}, {"phrase": "left lung"}),
        "vqa": ({"question": "Is there cardiomegaly?", "content_type": "presence", "semantic_type": "verify"},
                {"answers": ["yes"]}),
    }


def make_results(root: Path, n_gallery: int = 3) -> dict[str, Any]:
    """A results dict shaped like imax.experiment's, with numbers that make IMAX win 5 of 7 tasks."""
    rng = np.random.default_rng(7)
    primary = {t: {"name": TASKS[t].primary_metric, "higher_is_better": TASKS[t].primary_metric not in LOWER_IS_BETTER}
               for t in TASK_NAMES}
    base = {"calculation": 0.061, "report": 0.312, "multiclass": 0.52, "multilabel": 0.281, "rec": 0.64,
            "reg": 0.71, "vqa": 0.58}
    # Oriented relative change of imax and pseudo vs dmax per task; imax loses on multiclass and vqa.
    delta = {"imax": {"calculation": 0.12, "report": 0.08, "multiclass": -0.03, "multilabel": 0.15, "rec": 0.07,
                      "reg": 0.05, "vqa": -0.02},
             "pseudo_imax": {"calculation": 0.05, "report": 0.02, "multiclass": 0.01, "multilabel": 0.06,
                             "rec": -0.01, "reg": 0.02, "vqa": -0.04},
             "dmax": dict.fromkeys(TASK_NAMES, 0.0)}
    runs: dict[str, Any] = {}
    for run in RUNS:
        metrics, cis = {}, {}
        for t in TASK_NAMES:
            hib = primary[t]["higher_is_better"]
            v = base[t] * (1 + delta[run][t]) if hib else base[t] * (1 - delta[run][t])
            metrics[t] = {m: round(v if i == 0 else float(rng.uniform(0.1, 0.9)), 4)
                          for i, m in enumerate(TASKS[t].metrics)}
            cis[t] = {m: _ci(val, 0.02 * abs(val) + 0.004) for m, val in metrics[t].items()}
        oriented = [(metrics[t][primary[t]["name"]] if primary[t]["higher_is_better"]
                     else 1 - metrics[t][primary[t]["name"]]) for t in TASK_NAMES]
        avg = round(float(np.mean(oriented)), 4)
        steps = list(range(0, 400, 10))
        decay = {"imax": 1.0, "dmax": 1.15, "pseudo_imax": 1.07}[run]
        runs[run] = {
            "metrics": metrics, "metrics_ci": cis, "multitask_average": avg,
            "multitask_average_ci": _ci(avg, 0.012),
            "parse_failure_rate": {t: round(float(rng.uniform(0, 0.05)), 4) for t in TASK_NAMES},
            "per_seed": [{"seed": s, "metrics": {}, "multitask_average": round(avg + 0.004 * (s - 1), 4)}
                         for s in (0, 1, 2)],
            "fisher": [
                {"checkpoint": c, "step": int(f * 400), "fraction": f,
                 "se": round(3.2 - f * (1.1 if run == "imax" else 0.7 if run == "pseudo_imax" else 0.5), 4),
                 "rho": round(0.08 + f * (0.25 if run == "imax" else 0.16 if run == "pseudo_imax" else 0.1), 4),
                 "topk_ratio": round(0.3 + 0.3 * f, 4), "trace": round(12.5 * (1 + f), 3), "eff_rank": 18.0 - 6 * f,
                 "eigenvalues": [float(np.exp(-(k + 1) * (0.25 + 0.3 * f) / decay)) for k in range(32)],
                 "per_task": {t: {"se": 2.0, "rho": 0.2} for t in TASK_NAMES}}
                for c, f in (("initial", 0.0), ("early", 0.1), ("mid", 0.5), ("late", 1.0))
            ],
            "loss_curve": [
                {"step": s, "loss": round(float(2.5 * decay * np.exp(-s / 150) + 0.3 + rng.normal(0, 0.03)), 4),
                 "per_task": {t: round(float((1 + i / 4) * decay * np.exp(-s / 120) + 0.2), 4)
                              for i, t in enumerate(TASK_NAMES)}}
                for s in steps
            ],
        }
    # The positive control: DMAX at half volume, a little worse than DMAX on every task.
    control_metrics = {t: {m: round(v * (0.97 if primary[t]["higher_is_better"] or i else 1.03), 4)
                           for i, (m, v) in enumerate(runs["dmax"]["metrics"][t].items())} for t in TASK_NAMES}
    runs["dmax_half"] = {**copy.deepcopy(runs["dmax"]), "metrics": control_metrics,
                         "multitask_average": round(runs["dmax"]["multitask_average"] - 0.021, 4),
                         "fisher": [], "control": True, "detected": True, "minimum_detectable_effect": 0.0123}
    for block in runs.values():
        block["trivial_baseline"] = _control_block(block, primary, 0.6, rule=True)
        block["shuffled_image"] = _control_block(block, primary, 0.85)
    gains = {}
    for run in ("imax", "pseudo_imax"):
        per_task = {t: delta[run][t] for t in TASK_NAMES}
        rom = runs[run]["multitask_average"] / runs["dmax"]["multitask_average"] - 1
        gains[f"{run}_vs_dmax"] = {
            "per_task": per_task, "per_task_ci": {t: _ci(g, 0.03) for t, g in per_task.items()},
            "mean_of_relative": float(np.mean(list(per_task.values()))),
            "mean_of_relative_ci": _ci(float(np.mean(list(per_task.values()))), 0.02),
            "relative_of_mean": rom, "relative_of_mean_ci": _ci(rom, 0.015),
        }
    stats = {}
    for mode, images, entries in (("imax", 1200, 6130), ("dmax", 4310, 6130), ("pseudo_imax", 4310, 25870)):
        stats[mode] = {"mode": mode, "images": images, "entries": entries,
                       "per_task_entries": {t: 870 + 10 * i for i, t in enumerate(TASK_NAMES)},
                       "mean_tasks_per_image": round(entries / images * 0.8, 3),
                       "mean_entries_per_image": round(entries / images, 3),
                       "per_split": {"train": {"images": int(images * 0.8)}, "test": {"images": int(images * 0.1)}},
                       "test_patients_in_train": 0}
    quality = {t: {"before_filter": {"n": 4000, TASKS[t].primary_metric: 0.55},
                   "after_filter": {"n": 3100 - 100 * i, TASKS[t].primary_metric: 0.63},
                   "kept_fraction": round((3100 - 100 * i) / 4000, 4), "threshold": 0.5}
               for i, t in enumerate(TASK_NAMES)}
    gallery = []
    for g in range(n_gallery):
        size = (320, 384) if g % 2 == 0 else (300, 300)
        path = root / "gallery" / f"{dicom_id(g)}.jpg"
        boxes = draw_xray(path, size, g)
        if g == n_gallery - 1:
            path.unlink()  # one gallery image is missing on disk: the page must say so
        entries = []
        for k, (task, (query, answer)) in enumerate(_answers(boxes, size, g).items()):
            spec = TASKS[task]
            ref = spec.format_answer(query, answer)
            preds = {}
            for j, run in enumerate(RUNS):
                if task == "rec":
                    b = Box(*boxes["heart"], *size).to_grid()
                    shifted = tuple(min(100, v + 3 * j) for v in b)
                    text = "{" + "".join(f"<{v}>" for v in shifted) + "}"
                else:
                    text = ref if j != 1 else ("unsure" if task == "calculation" else ref)
                parsed = spec.parse_answer(text, query)
                preds[run] = {"text": text, "parsed": parsed}
            entry = {"task": task, "instruction": spec.render_instruction(query, k), "reference": ref,
                     "reference_answer": answer, "predictions": preds}
            if not (task == "reg" and g == 1):  # gallery image 1: reg box only in the instruction text
                entry["query"] = query
            entries.append(entry)
        gallery.append({"dicom_id": dicom_id(g), "image_path": str(path), "size": list(size), "entries": entries})
    return {
        "preset": "quick", "seeds": [0, 1, 2], "wall_seconds": 912.4, "created": "2026-11-29T03:10:00+00:00",
        "config": {"preset": "quick", "train": {"lr": 2e-4, "epochs": 3}},
        "primary_metrics": primary, "runs": runs, "gains": gains, "dataset_stats": stats,
        "control": {"arm": "dmax_half", "parent": "dmax", "handicap": "DMAX trained on 50% of its per-task train volume",
                    "held_equal": "base model, recipe, optimizer steps, batch size, seed, test set and scorer",
                    "train_volume": {"ratio": 0.5}, "difference": {"value": 0.021, "ci": [0.009, 0.033], "se": 0.0044},
                    "minimum_detectable_effect": 0.0123, "detected": True, "direction": "parent better",
                    "n_seeds": 3},
        "pseudo_label_quality": quality, "gallery": gallery,
    }


def _control_block(run: dict[str, Any], primary: dict[str, Any], factor: float, rule: bool = False) -> dict:
    """A trivial-baseline / shuffled-image block: the control scores ``factor`` × the run's score."""
    tasks = {}
    for t in TASK_NAMES:
        name, hib = primary[t]["name"], primary[t]["higher_is_better"]
        own = run["metrics"][t][name] if hib else 1 - run["metrics"][t][name]
        score = round(own * factor, 4)
        metrics = {name: score if hib else round(1 - score, 4)}
        if t == "rec":
            metrics |= {f"{r}/{m}": v for r in ("heart", "left lung") for m, v in
                        (("mean_iou", 0.74), ("acc_iou50", 1.0), ("acc_iou75", 0.41))}
        tasks[t] = {"metric": name, "higher_is_better": hib, "value": metrics[name], "score": score,
                    "score_ci": _ci(score, 0.02), "diff": round(own - score, 4), "diff_ci": _ci(own - score, 0.015),
                    "diff_se": 0.0077, "metrics": metrics}
    avg = round(float(np.mean([c["score"] for c in tasks.values()])), 4)
    block: dict[str, Any] = {"tasks": tasks, "multitask_average": {
        "value": avg, "ci": _ci(avg, 0.01), "diff": round(run["multitask_average"] - avg, 4),
        "diff_ci": _ci(run["multitask_average"] - avg, 0.008), "diff_se": 0.004}}
    block["above_zero"] = [t for t, c in tasks.items() if c["diff_ci"][0] > 0]
    if rule:
        block["rule"] = {t: TASKS[t].trivial_rule for t in TASK_NAMES}
    return block


def make_dataset(root: Path, n_images: int = 6) -> Path:
    """A built dataset directory (entries/images parquet, manifest, stats) with images under data_root."""
    data_root, out = root / "data_root", root / "built"
    out.mkdir(parents=True)
    splits = ["train", "train", "train", "val", "test", "test"]
    image_rows, entry_rows = [], []
    for i in range(n_images):
        did, subject, study = dicom_id(100 + i), 10000000 + i, 50000000 + i
        rel = f"files/p10/p{subject}/s{study}/{did}.jpg"
        size = (288, 320)
        boxes = draw_xray(data_root / rel, size, 100 + i)
        if i == 2:
            (data_root / rel).unlink()  # a missing image file
        split = splits[i % len(splits)]
        image_rows.append({"dicom_id": did, "subject_id": subject, "study_id": study, "view": "PA", "split": split,
                           "path": rel, "height": size[1], "width": size[0]})
        answers = _answers(boxes, size, i)
        answers["rec2"] = ({"phrase": "right lung"}, {"box": boxes["right lung"], "size": list(size)})
        for k, (key, (query, answer)) in enumerate(answers.items()):
            task = "rec" if key == "rec2" else key
            if i % 2 == 1 and task in ("report", "vqa"):
                continue  # not every image carries every task
            spec = TASKS[task]
            pseudo = i == 4 and task in ("multilabel", "rec")
            entry_rows.append({
                "id": f"{did}:{task}:{k}", "dicom_id": did, "subject_id": subject, "split": split, "task": task,
                "source": "pseudo" if pseudo else "chexmask" if task in ("rec", "reg") else "mimic",
                "query": json.dumps(query), "answer": json.dumps(answer),
                "instruction": spec.render_instruction(query, k), "response": spec.format_answer(query, answer),
                "image": rel, "provenance": "pseudo" if pseudo else "real",
            })
    images_schema = {"dicom_id": pl.String, "subject_id": pl.Int64, "study_id": pl.Int64, "view": pl.String,
                     "split": pl.String, "path": pl.String, "height": pl.Int64, "width": pl.Int64}
    pl.DataFrame(image_rows, schema=images_schema).write_parquet(out / "images.parquet")
    pl.DataFrame(entry_rows, schema=polars_schema(ENTRY_COLUMNS)).write_parquet(out / "entries.parquet")
    (out / "manifest.json").write_text(json.dumps({"data_root": str(data_root), "id": "fake"}))
    (out / "stats.json").write_text(json.dumps({"mode": "imax", "images": n_images, "entries": len(entry_rows)}))
    return out


# Any attribute or CSS reference that would make the browser fetch something.
EXTERNAL = re.compile(r"""(?:src|href|srcset|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
                      re.IGNORECASE)


def assert_self_contained(page: str) -> None:
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page.lower()
    assert not re.search(r"<script[^>]*\ssrc=", page, re.IGNORECASE)
    for src in re.findall(r'<img[^>]*\ssrc="([^"]*)"', page):
        assert src.startswith("data:image/"), src[:80]
