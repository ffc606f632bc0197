"""MIMIC-Ext-MIMIC-CXR-VQA ``dataset/{train,valid,test}.json``: JSON lists in the release's key order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imax.phantom.writers import write_json

FOLDER = "mimic-ext-mimic-cxr-vqa/dataset"
FIELDS = ("split", "idx", "subject_id", "study_id", "image_id", "image_path", "question", "semantic_type",
          "content_type", "template", "template_program", "template_arguments", "answer")


def write(items: dict[str, list[dict[str, Any]]], out: Path) -> dict[str, int]:
    counts = {}
    for split in ("train", "valid", "test"):
        rows = [{k: it[k] for k in FIELDS} for it in items.get(split, [])]
        write_json(rows, out / FOLDER / f"{split}.json")
        counts[f"{FOLDER}/{split}.json"] = len(rows)
    return counts
