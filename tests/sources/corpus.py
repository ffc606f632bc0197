"""The corruption corpus: one phantom, every source file, every way a download or an edit breaks a file.

:func:`make_phantom` writes a small phantom (all seven sources; plus a ``mimic_cxr_sectioned.csv`` made
from its report tree, kept aside because its presence switches the reports route). :func:`corrupt`
returns the bytes of one file after one corruption, and :func:`overlay` builds a data root that is the
phantom except for that one file (symlinks to the rest, so a case costs a few file writes, not a copy
of the images).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

from imax.sources.sectioning import clean, section_text

SECTIONED = "mimic_cxr_sectioned.csv"
CHEXMASK_GZ = "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv.gz"
VQA_GZ = "mimic-ext-mimic-cxr-vqa/dataset/train.json.gz"
REPORT = "report.txt"
"""Stand-in name of the corpus's report-tree file: the first report of the phantom's tree."""


@dataclass(frozen=True)
class Target:
    """One source file of the corpus."""

    source: str
    """Adapter name."""
    rel: str
    """Path relative to the data root (``report.txt``: the first report of the tree)."""
    replaces: str | None = None
    """A phantom file in the same folder that this corpus-only file stands in for (hidden in its cases):
    the gzipped copies that take the readers' ``.gz`` paths."""

    @property
    def kind(self) -> str:
        """``csv``, ``json`` or ``txt`` (of the decompressed content)."""
        name = self.rel.removesuffix(".gz")
        return name.rsplit(".", 1)[-1]

    @property
    def gz(self) -> bool:
        return self.rel.endswith(".gz")


TARGETS = (
    Target("mimic_metadata", "mimic-cxr-2.0.0-metadata.csv.gz"),
    Target("mimic_metadata", "mimic-cxr-2.0.0-split.csv.gz"),
    Target("chexpert", "mimic-cxr-2.0.0-chexpert.csv.gz"),
    Target("reports", SECTIONED),
    Target("reports", REPORT),
    Target("cardiomegaly", "cxr-cardiomegaly/CTRs.csv"),
    Target("cardiomegaly", "cxr-cardiomegaly/CPARs.csv"),
    Target("edema", "mimic-cxr-pe-severity/consensus_image_edema_severity.csv"),
    Target("edema", "mimic-cxr-pe-severity/expert_report_edema_severity.csv"),
    Target("edema", "mimic-cxr-pe-severity/regex_report_edema_severity.csv"),
    # (CXR-LT 2023's development.csv and test.csv have train.csv's format and reader: read, not corrupted)
    Target("cxrlt", "cxr-lt-2023/train.csv"),
    Target("cxrlt", "cxr-lt-2024/train_labeled.csv"),
    Target("chexmask", "chexmask/OriginalResolution/MIMIC-CXR-JPG.csv"),
    Target("chexmask", CHEXMASK_GZ, replaces=CHEXMASK_GZ.removesuffix(".gz")),  # read whole, not streamed
    Target("vqa", "mimic-ext-mimic-cxr-vqa/dataset/train.json"),
    Target("vqa", "mimic-ext-mimic-cxr-vqa/dataset/test.json"),
    Target("vqa", VQA_GZ, replaces=VQA_GZ.removesuffix(".gz")),  # parsed from bytes, not from the path
)

KINDS = (
    "truncate_header",  # cut inside the header (gz: inside the gzip header)
    "truncate_mid",  # cut in the middle of the file (gz: of the compressed stream)
    "truncate_end",  # cut one byte before the end (plain: the last newline; gz: the trailer)
    "empty",  # 0 bytes
    "header_only",  # the header line and nothing else (JSON: an empty list)
    "drop_column",  # each column in turn removed from header and rows (JSON: each key from every object)
    "bom",  # UTF-8 byte order mark in front
    "crlf",  # CRLF line ends
    "wrong_type",  # the first data row's every value of the wrong type (JSON: element 0)
    "wrong_type_column",  # CSV: each column in turn given a wrong-typed value in the first data row
    "garbage",  # seeded byte damage, once per GARBAGE mode: bytes overwritten, a random block, CSV syntax
)
"""Every corruption kind of the corpus (``drop_column`` expands to one case per column inside a test)."""

PHANTOM = dict(
    patients=12,
    image_size=64,
    workers=1,
    edema_cohort_fraction=1.0,
    edema_regex_fraction=0.8,
    edema_expert_fraction=0.4,
    edema_consensus_fraction=0.4,
    cxrlt_development_fraction=0.3,
    cxrlt_test_fraction=0.3,
    vqa_image_fraction=0.6,
    validate_fraction=0.2,
    test_fraction=0.2,
)
"""A phantom small enough to read in ~20 ms a source, with rows in every corpus file."""


def make_phantom(out: Path) -> tuple[Path, dict[str, bytes]]:
    """Write the phantom under ``out``; returns it and the corpus-only files (rel path -> bytes)."""
    from imax.phantom import generate
    from imax.schema.config.phantom import PhantomConfig

    generate(PhantomConfig(out=out, **PHANTOM))  # type: ignore[arg-type]
    split_cxrlt_2024(out)
    extra = {SECTIONED: sectioned_csv(out)}
    for gz in (CHEXMASK_GZ, VQA_GZ):
        extra[gz] = gzip.compress((out / gz.removesuffix(".gz")).read_bytes(), mtime=0)
    return out, extra


def split_cxrlt_2024(root: Path) -> None:
    """Move the second half of CXR-LT 2023 ``development.csv`` into a 2024-format ``train_labeled.csv``
    (``s``-prefixed study ids, ``fpath``, the 40 task-1 classes with ``Normal``), so both releases'
    readers are in the corpus without one image labelled twice."""
    from imax.sources.cxrlt import CLASSES_2024

    dev = root / "cxr-lt-2023" / "development.csv"
    rows = list(csv.reader(io.StringIO(dev.read_text(), newline="")))
    head, body = rows[0], rows[1:]
    keep, move = body[: len(body) // 2], body[len(body) // 2 :]
    dev.write_text(_csv([head, *keep]))
    col = {"fpath": "path", "Normal": "No Finding"}
    new_head = ["dicom_id", "subject_id", "study_id", "fpath", *CLASSES_2024]
    out = [new_head]
    for r in move:
        by = dict(zip(head, r, strict=True))
        by["study_id"] = "s" + by["study_id"]
        out.append([by.get(col.get(c, c), "0") for c in new_head])
    (root / "cxr-lt-2024").mkdir()
    (root / "cxr-lt-2024" / "train_labeled.csv").write_text(_csv(out))


def report_files(root: Path) -> list[Path]:
    return sorted(root.glob("files/p*/p*/s*.txt"))


def sectioned_csv(root: Path) -> bytes:
    """MIT-LCP's ``mimic_cxr_sectioned.csv`` of the tree's reports (one row per study)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["study", "impression", "findings", "last_paragraph", "comparison"])
    for f in report_files(root):
        by = dict(section_text(f.read_text()))
        text = [clean(by.get(k, "")) for k in ("impression", "findings", "last_paragraph")]
        w.writerow([f.stem, *text, ""])
    return buf.getvalue().encode()


def resolve(root: Path, target: Target) -> str:
    """The real relative path of ``target`` in the phantom."""
    if target.rel == REPORT:
        return report_files(root)[0].relative_to(root).as_posix()
    return target.rel


def original(root: Path, extra: dict[str, bytes], target: Target) -> bytes:
    """The file's bytes as the phantom wrote them (compressed for .gz)."""
    return extra[target.rel] if target.rel in extra else (root / resolve(root, target)).read_bytes()


def columns(data: bytes, target: Target) -> list[str]:
    """Header columns (CSV) or the keys of the first object (JSON) of the clean file."""
    text = _text(data, target)
    if target.kind == "json":
        items = json.loads(text)
        return list(items[0]) if items else []
    if target.kind == "csv":
        return next(csv.reader([text.split("\n", 1)[0]]))
    return []


def _text(data: bytes, target: Target) -> str:
    return (gzip.decompress(data) if target.gz else data).decode()


def _pack(text: str, target: Target) -> bytes:
    raw = text.encode()
    return gzip.compress(raw, mtime=0) if target.gz else raw


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


WRONG = "n/a?"
"""A value of the wrong type for every typed field (no id, number, label, grade or RLE reads it)."""


GARBAGE = ("overwrite", "block", "syntax", "header_cr")
"""Modes of the ``garbage`` kind (passed as ``column``): 8 bytes overwritten with random ones, 64
random bytes inserted, 4 bytes overwritten with CSV syntax (quote, comma, newline, CR, NUL), a lone
carriage return in the middle of the first line (Python's csv module refuses such a header)."""


def garbage(plain: bytes, mode: str) -> bytes:
    """Seeded damage of the decompressed content (the same bytes on every run)."""
    r = random.Random(f"{mode}:{len(plain)}")
    b = bytearray(plain)
    if mode == "overwrite":
        for _ in range(8):
            b[r.randrange(len(b))] = r.randrange(256)
    elif mode == "block":
        i = r.randrange(len(b))
        b[i:i] = bytes(r.randrange(256) for _ in range(64))
    elif mode == "syntax":
        for _ in range(4):
            b[r.randrange(len(b))] = r.choice(b'",\n\r\x00')
    else:
        end = plain.find(b"\n")
        b[max(1, (end if end > 0 else len(b)) // 2)] = ord("\r")
    return bytes(b)


def corrupt(data: bytes, target: Target, kind: str, column: str | None = None) -> bytes | None:
    """The bytes of the file after corruption ``kind`` (None: the kind does not apply to this file).

    ``column``: the column (or JSON key) of the per-column kinds, the mode of ``garbage``."""
    if kind == "garbage":
        damaged = garbage(gzip.decompress(data) if target.gz else data, column or GARBAGE[0])
        return gzip.compress(damaged, mtime=0) if target.gz else damaged
    if kind.startswith("truncate"):
        text_len = len(data)
        if kind == "truncate_header":
            if target.gz:
                return data[:6]  # inside the gzip header
            end = data.find(b"\n")
            return data[: max(1, (end if end > 0 else text_len) // 2)]
        if kind == "truncate_mid":
            return data[: text_len // 2]
        return data[: text_len - 1]
    if kind == "empty":
        return b""
    if kind == "bom":
        return _pack("\ufeff" + _text(data, target), target)
    if kind == "crlf":
        return _pack(_text(data, target).replace("\r\n", "\n").replace("\n", "\r\n"), target)
    text = _text(data, target)
    if target.kind == "txt":
        if kind == "wrong_type":  # a binary blob where a report should be
            return bytes(range(256)) * 4
        return None
    if target.kind == "json":
        items = json.loads(text)
        if kind == "header_only":
            return _pack("[]\n", target)
        if kind == "drop_column":
            return _pack(json.dumps([{k: v for k, v in it.items() if k != column} for it in items]), target)
        if kind == "wrong_type_column":
            return None
        if kind == "wrong_type":
            first = items[0]
            items[0] = {k: (7 if isinstance(v, str) else "x" if isinstance(v, (list, int)) else v)
                        for k, v in first.items()}
            return _pack(json.dumps(items), target)
        raise ValueError(kind)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if kind == "wrong_type_column":
        rows[1][rows[0].index(column)] = WRONG  # type: ignore[arg-type]
        return _pack(_csv(rows), target)
    if kind == "header_only":
        return _pack(_csv(rows[:1]), target)
    if kind == "drop_column":
        i = rows[0].index(column)  # type: ignore[arg-type]
        return _pack(_csv([r[:i] + r[i + 1 :] for r in rows]), target)
    if kind == "wrong_type":
        rows[1] = [WRONG] * len(rows[1])
        return _pack(_csv(rows), target)
    raise ValueError(kind)


def overlay(pristine: Path, dest: Path, rel: str, data: bytes | None, hide: str | None = None) -> Path:
    """A data root at ``dest`` equal to ``pristine`` except ``rel``, which holds ``data`` (None: absent),
    and ``hide`` (a file in ``rel``'s folder), which is left out.

    Every other entry is a symlink into ``pristine``; only the folders on the way to ``rel`` are real.
    """
    parts = rel.split("/")
    hidden = hide.rsplit("/", 1)[-1] if hide is not None else None
    src, out = pristine, dest
    out.mkdir(parents=True)
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        for entry in os.scandir(src):
            if entry.name != part and not (last and entry.name == hidden):
                os.symlink(entry.path, out / entry.name)
        if last:
            if data is not None:
                (out / part).write_bytes(data)
        else:
            src, out = src / part, out / part
            out.mkdir()
    return dest
