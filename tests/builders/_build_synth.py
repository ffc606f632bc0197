"""Synthetic canonical tables (the shape ``imax.sources.read_sources`` returns) and a fake task table.

Task presence per image is drawn so that, as in MIMIC, a minority of images carries >= 3 tasks: the
decentralized pool is then large enough for DMAX with one task per image. Payloads follow the
conventions of ``imax.schema.records`` so the real task table renders them too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from imax.schema.records import CHEXPERT14, IMAGE_COLUMNS, TASK_NAMES, polars_schema
from imax.sources.base import InputFile, SourceTables
from imax.tasks.base import TaskSpec

# P(task on image); frontal-only tasks are drawn only for frontal images.
P_TASK = {"report": 0.45, "multilabel": 0.40, "vqa": 0.30, "calculation": 0.55, "rec": 0.30, "multiclass": 0.12}


def _dicom_ids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 16, size=(n, 40))
    hexes = ["".join("0123456789abcdef"[d] for d in row) for row in raw]
    return ["-".join(h[i : i + 8] for i in range(0, 40, 8)) for h in hexes]


def make_tables(n_patients: int = 500, seed: int = 0, orphans: int = 0) -> SourceTables:
    """Images of ``n_patients`` patients (1–3 studies × 1–3 images) and per-task annotations."""
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    for p in range(n_patients):
        subject = 10_000_000 + p * 37
        for s in range(int(rng.integers(1, 4))):
            study = 50_000_000 + p * 10 + s
            for _ in range(int(rng.integers(1, 4))):
                images.append({"subject_id": subject, "study_id": study,
                               "view": str(rng.choice(["PA", "AP", "LATERAL"], p=[0.4, 0.35, 0.25]))})
    ids = _dicom_ids(rng, len(images))
    for row, dicom in zip(images, ids, strict=True):
        row |= {"dicom_id": dicom, "split": "train", "height": 1024, "width": 1024,
                "path": f"files/p{str(row['subject_id'])[:2]}/p{row['subject_id']}/s{row['study_id']}/{dicom}.jpg"}
    ann: list[tuple[str, str, str, str, str, str]] = []

    def add(dicom: str, task: str, source: str, query: dict, answer: dict, line: int) -> None:
        ann.append((dicom, task, source, json.dumps(query), json.dumps(answer),
                    json.dumps({"file": f"{source}.csv", "line": line})))

    for line, row in enumerate(images, start=2):
        d, frontal = row["dicom_id"], row["view"] != "LATERAL"
        if rng.random() < P_TASK["report"]:
            add(d, "report", "reports", {}, {"text": f"findings for study {row['study_id']}."}, line)
        if rng.random() < P_TASK["multilabel"]:
            labels = sorted(rng.choice(CHEXPERT14, size=int(rng.integers(1, 3)), replace=False).tolist())
            add(d, "multilabel", "chexpert", {"label_space": "chexpert14"}, {"labels": labels}, line)
        for q in range(int(rng.integers(1, 4)) if rng.random() < P_TASK["vqa"] else 0):
            add(d, "vqa", "vqa", {"question": f"is there finding {q}?", "content_type": "presence",
                                  "semantic_type": "verify"}, {"answers": [str(rng.choice(["no", "yes"]))]}, line)
        if not frontal:
            continue
        if row["view"] == "PA" and rng.random() < P_TASK["calculation"]:
            for m in ("ctr", "cpar"):
                add(d, "calculation", "cardiomegaly", {"measure": m}, {"value": round(float(rng.uniform(0.3, 0.6)), 4)},
                    line)
        if rng.random() < P_TASK["rec"]:
            for region, box in (("heart", [400, 500, 700, 800]), ("left lung", [550, 150, 900, 850]),
                                ("right lung", [120, 150, 480, 850])):
                add(d, "rec", "chexmask", {"phrase": region}, {"box": box, "size": [1024, 1024]}, line)
                add(d, "reg", "chexmask", {"box": box, "size": [1024, 1024]}, {"phrase": region}, line)
        if rng.random() < P_TASK["multiclass"]:
            add(d, "multiclass", "edema", {"label_space": "edema_severity"}, {"grade": int(rng.integers(0, 4))}, line)
    for o in range(orphans):
        add(f"ffffffff-0000-0000-0000-{o:012x}"[:44], "report", "reports", {}, {"text": "orphan"}, 10_000 + o)
    images_df = pl.DataFrame(images).select(list(IMAGE_COLUMNS)).cast(polars_schema(IMAGE_COLUMNS))  # type: ignore[arg-type]
    ann_df = pl.DataFrame(ann, schema=["dicom_id", "task", "source", "query", "answer", "meta"], orient="row")
    inputs = [InputFile(source=s, path=f"/data/{s}.csv", sha256="0" * 64, rows_read=n, rows_used=n, rows_quarantined=0)
              for s, n in ann_df.group_by("source").len().sort("source").iter_rows()]
    quarantine = pl.DataFrame({"file": ["/data/reports.csv"], "line": [3], "field": ["text"],
                               "reason": ["empty report"], "value": [""]})
    return SourceTables(images=images_df, annotations=ann_df, quarantine=quarantine, inputs=inputs,
                        data_root=None)


def _fake_spec(name: str) -> TaskSpec:
    return TaskSpec(
        name=name,  # type: ignore[arg-type]
        token=f"[{name}]",
        instructions=tuple(f"variant {i}: {{q}}" for i in range(5)),
        instruction_fields=lambda q: {"q": json.dumps(q, sort_keys=True)},
        format_answer=lambda q, a: json.dumps(a, sort_keys=True),
        parse_answer=lambda text, q: json.loads(text),
        canonical=lambda q, a: dict(a),
        metrics=("accuracy",),
        max_new_tokens=8,
        query_from_argument=lambda text, size: {"q": text},
        argument_help="anything",
        trivial_baseline=lambda pairs: (lambda q: dict(pairs[0][1]) if pairs else {}),
        trivial_rule="the first train answer",
    )


FAKE_TASKS: Mapping[str, TaskSpec] = {name: _fake_spec(name) for name in TASK_NAMES}


BUILD_KW: dict[str, Any] = {"max_entries_per_task": 150, "seed": 0}
"""Config of the shared synthetic builds (the cap keeps DMAX feasible with one task per image)."""
