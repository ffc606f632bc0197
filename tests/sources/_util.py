"""Helpers and fixture ids shared by the sources tests."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

A = "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"  # PA, study 50414267 (canvas 4x5)
B = "174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962"  # LATERAL, same study as A
C = "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab"  # AP, study 53189527
D = "096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4"  # AP, study 57375967
E = "8959e402-2175d68d-edba5a6c-520b6b9b-0ae2de5b"  # PA, study 57375967
F = "9b314ad7-fbcb0422-6db62dfc-732858d0-a5527d8b"  # PA, image file missing -> quarantined
G = "ea030e7a-2e3b1346-bc518786-7a8fd698-f673b44c"  # LL only, study 58014456
H = "f1b2c3d4-00112233-44556677-8899aabb-ccddeeff"  # blank ViewPosition, study 51234567
IDS = {"A": A, "B": B, "C": C, "D": D, "E": E, "F": F, "G": G, "H": H}
IMAGES_ON_DISK = {
    A: "files/p10/p10000032/s50414267",
    B: "files/p10/p10000032/s50414267",
    C: "files/p10/p10000032/s53189527",
    D: "files/p10/p10000764/s57375967",
    E: "files/p10/p10000764/s57375967",
    G: "files/p10/p10001122/s58014456",
    H: "files/p10/p10001401/s51234567",
}
GZIPPED = ("metadata", "split", "chexpert")


def build_root(dest: Path) -> Path:
    """Copy the mini fixture to ``dest``, gzip the label files and write the JPEGs."""
    from PIL import Image

    shutil.copytree(FIXTURES / "mini", dest)
    jpg = dest / "mimic-cxr-jpg" / "2.0.0"
    for kind in GZIPPED:
        src = jpg / f"mimic-cxr-2.0.0-{kind}.csv"
        (jpg / f"{src.name}.gz").write_bytes(gzip.compress(src.read_bytes()))
        src.unlink()
    for dicom, folder in IMAGES_ON_DISK.items():
        (dest / folder).mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), 128).save(dest / folder / f"{dicom}.jpg", quality=90)
    return dest


def used_rows(tables) -> dict[str, set]:  # type: ignore[no-untyped-def]
    """``{file label: {line, ...}}`` of input rows that produced at least one annotation (from meta)."""
    import json

    out: dict[str, set] = {}
    for m in tables.annotations["meta"].unique().to_list():
        meta = json.loads(m)
        out.setdefault(meta["file"], set()).add(meta["line"])
    return out


def assert_accounted(tables) -> None:  # type: ignore[no-untyped-def]
    """Every input row is used xor quarantined, and InputFile counts agree with the tables.

    File-level quarantine rows (files with rows_read == 0) are not data rows and are skipped.
    """
    used = used_rows(tables)
    quarantined: dict[str, list] = {}
    for f, line in tables.quarantine.select("file", "line").iter_rows():
        quarantined.setdefault(f, []).append(line)
    for inp in tables.inputs:
        assert inp.rows_read == inp.rows_used + inp.rows_quarantined, inp
        if inp.source == "reports" and inp.path.endswith("files"):
            continue  # the report tree: one row per .txt file (line null), checked in test_reports
        if inp.source == "mimic_metadata" and "-metadata." in inp.path:  # its rows are IMAGES rows
            assert inp.rows_used == tables.images.height, (inp, tables.images.height)
        label = next((f for f in set(used) | set(quarantined) if inp.path.endswith("/" + f)), None)
        if label is None and inp.source == "mimic_metadata":
            assert inp.rows_quarantined == 0, inp
            continue
        if label is None or inp.rows_read == 0:
            assert inp.rows_used == inp.rows_quarantined == 0, inp
            continue
        u, q = used.get(label, set()), quarantined.get(label, [])
        assert len(q) == len(set(q)) == inp.rows_quarantined, (inp, q)
        assert not (u & set(q)), (inp, u & set(q))
        if inp.source != "mimic_metadata":  # metadata rows are used as IMAGES rows, not annotations
            assert len(u) == inp.rows_used, (inp, u)


def rows_of(tables, source: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """Annotations of one source as dicts with parsed query/answer/meta."""
    import json

    out = []
    for r in tables.annotations.filter(tables.annotations["source"] == source).iter_rows(named=True):
        out.append(
            {
                **r,
                "query": json.loads(r["query"]),
                "answer": json.loads(r["answer"]),
                "meta": json.loads(r["meta"]),
            }
        )
    return out


def quarantine_of(tables, file_part: str) -> dict:  # type: ignore[no-untyped-def]
    """``{line: (field, reason)}`` of quarantine rows whose file contains ``file_part``."""
    q = tables.quarantine.filter(tables.quarantine["file"].str.contains(file_part, literal=True))
    return {r["line"]: (r["field"], r["reason"]) for r in q.iter_rows(named=True)}


def clean_metadata(root: Path) -> None:
    """Keep only the valid metadata rows and drop the split file (for strict-mode tests of other files)."""
    meta = root / "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-metadata.csv.gz"
    lines = gzip.decompress(meta.read_bytes()).splitlines(keepends=True)
    meta.write_bytes(gzip.compress(b"".join(lines[:9])))
    (root / "mimic-cxr-jpg/2.0.0/mimic-cxr-2.0.0-split.csv.gz").unlink()
