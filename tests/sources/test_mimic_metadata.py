"""IMAGES from metadata + split (gz as shipped), id checks, image file checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from imax.schema.config.sources import SourcesConfig
from imax.schema.records import IMAGE_COLUMNS
from imax.sources import read_sources

from ._util import A, B, D, F, G, H, quarantine_of


def test_images_table(mini_tables) -> None:  # type: ignore[no-untyped-def]
    img = mini_tables.images
    assert img.columns == list(IMAGE_COLUMNS)
    assert img.height == 7 and F not in img["dicom_id"].to_list()
    a = img.filter(pl.col("dicom_id") == A).row(0, named=True)
    assert a == {
        "dicom_id": A,
        "subject_id": 10000032,
        "study_id": 50414267,
        "view": "PA",
        "split": "train",
        "path": f"files/p10/p10000032/s50414267/{A}.jpg",
        "height": 4,
        "width": 5,
    }
    views = dict(img.select("dicom_id", "view").iter_rows())
    assert views[B] == "LATERAL" and views[G] == "LL" and views[H] == ""
    assert dict(img.select("dicom_id", "split").iter_rows())[D] == "validate"


def test_metadata_quarantine(mini_tables) -> None:  # type: ignore[no-untyped-def]
    q = quarantine_of(mini_tables, "metadata.csv.gz")
    assert q[7] == ("path", "image file missing")
    assert q[10][0] == "dicom_id" and q[11] == ("Rows", "Rows is not a positive integer")
    assert q[12][1].startswith("duplicate dicom_id: first at") and q[12][1].endswith(":2")
    s = quarantine_of(mini_tables, "split.csv.gz")
    assert s[9][0] == "dicom_id" and s[10][0] == "split"
    meta = next(i for i in mini_tables.inputs if i.path.endswith("metadata.csv.gz"))
    assert (meta.rows_read, meta.rows_used, meta.rows_quarantined) == (11, 7, 4)
    assert len(meta.sha256) == 64


def test_image_checks(fresh_root: Path) -> None:
    (fresh_root / f"files/p10/p10000032/s50414267/{B}.jpg").write_bytes(b"")
    (fresh_root / f"files/p10/p10000764/s57375967/{D}.jpg").write_bytes(b"not a jpeg at all")
    shallow = read_sources(fresh_root, SourcesConfig(only=("mimic_metadata",)))
    q = quarantine_of(shallow, "metadata.csv.gz")
    assert q[3] == ("path", "image file empty") and 5 not in q
    deep = read_sources(fresh_root, SourcesConfig(only=("mimic_metadata",), deep_image_check=True))
    q = quarantine_of(deep, "metadata.csv.gz")
    assert q[5][0] == "path" and q[5][1].startswith("image not decodable")
    off = read_sources(fresh_root, SourcesConfig(only=("mimic_metadata",), check_images=False))
    assert off.images.height == 8  # F's missing file no longer matters


def test_plain_csv_and_missing_split(fresh_root: Path) -> None:
    import gzip

    jpg = fresh_root / "mimic-cxr-jpg" / "2.0.0"
    gz = jpg / "mimic-cxr-2.0.0-metadata.csv.gz"
    (jpg / "mimic-cxr-2.0.0-metadata.csv").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    (jpg / "mimic-cxr-2.0.0-split.csv.gz").unlink()
    t = read_sources(fresh_root, SourcesConfig(only=("mimic_metadata",)))
    assert t.images.height == 7 and set(t.images["split"]) == {""}


def test_metadata_elsewhere_is_found(tmp_path: Path, mini_root: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(mini_root, root)
    deep = root / "a" / "b" / "c"
    deep.mkdir(parents=True)
    shutil.move(root / "mimic-cxr-jpg", deep / "mimic-cxr-jpg")
    t = read_sources(root, SourcesConfig(only=("mimic_metadata",)))
    assert t.images.height == 7
