"""write_browser / ``imax browse``: every record and entry on one self-contained page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from imax.cli import main
from imax.report import write_browser
from imax.schema.errors import MissingPathError

from .report_fakes import assert_self_contained


def test_page_shows_every_record_and_entry(dataset: Path):
    out = write_browser(dataset)
    assert out == dataset / "browse.html"
    page = out.read_text()
    assert_self_contained(page)
    entries = pl.read_parquet(dataset / "entries.parquet")
    images = entries["dicom_id"].unique().to_list()
    assert page.count('<section class="record"') == len(images) == 6
    for did in images:
        assert did in page
    for row in entries.iter_rows(named=True):
        assert f'title="{row["id"]}"' in page
    assert page.count('<div class="entry">') == entries.height
    assert page.count('class="badge pseudo"') == entries.filter(pl.col("provenance") == "pseudo").height > 0
    # One image file is missing: an explicit placeholder, never an <img> that would render broken.
    assert page.count('class="missing ') == 1 and "missing image" in page
    assert page.count('src="data:image/jpeg;base64,') == 5
    # Filters list what is there, in split/task order; the JS hooks exist.
    assert re.search(r'<option value="train">train</option><option value="val">val</option>'
                     r'<option value="test">test</option>', page)
    assert 'data-tasks="calculation report multiclass multilabel rec reg vqa"' in page
    assert 'id="prev"' in page and 'id="next"' in page


def test_max_images_is_a_seeded_sample(dataset: Path, tmp_path: Path):
    a = write_browser(dataset, tmp_path / "a.html", max_images=3, seed=1).read_text()
    b = write_browser(dataset, tmp_path / "b.html", max_images=3, seed=1).read_text()
    assert a.count('<section class="record"') == 3 and a == b
    assert "3 of 6 images shown" in a


def test_works_without_images_parquet_or_manifest(dataset: Path, tmp_path: Path):
    (dataset / "images.parquet").unlink()
    (dataset / "manifest.json").write_text("{broken")
    page = write_browser(dataset, tmp_path / "p.html").read_text()
    # No manifest → images are looked up under the dataset dir itself, so all are missing, all say so.
    assert page.count('class="missing ') == 6 and "<img" not in page


def test_malformed_payloads_draw_no_box(dataset: Path, tmp_path: Path):
    df = pl.read_parquet(dataset / "entries.parquet")
    df = df.with_columns(pl.when(pl.col("task") == "rec").then(pl.lit("{bad json")).otherwise(pl.col("answer"))
                         .alias("answer"))
    df.write_parquet(dataset / "entries.parquet")
    assert write_browser(dataset, tmp_path / "p.html").is_file()


def test_cli_browse(dataset: Path, tmp_path: Path, capsys):
    out = tmp_path / "cli" / "page.html"
    assert main(["browse", str(dataset), "--out", str(out), "--max-images", "2", "--seed", "3"]) == 0
    assert out.is_file() and str(out) in capsys.readouterr().out
    assert out.read_text().count('<section class="record"') == 2
    assert main(["browse", str(tmp_path / "nowhere")]) == 2
    assert "no entries.parquet" in capsys.readouterr().err


def test_cli_config_contract():
    from imax.cli import browse
    from imax.schema.config.base import field_docs

    assert browse.POSITIONAL == ("dir",) and browse.HELP
    assert set(field_docs(browse.Config)) == {"dir", "out", "max_images", "seed"}


def test_missing_dataset_raises(tmp_path: Path):
    with pytest.raises(MissingPathError):
        write_browser(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({}))
    with pytest.raises(MissingPathError):
        write_browser(tmp_path)
