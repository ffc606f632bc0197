"""Both pages rendered in headless Chromium: not blank, scripts ran, and no image is broken."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imax.report import write_browser

from .chromium import render, requires_chromium
from .report_fakes import make_dataset

pytestmark = [pytest.mark.browser, requires_chromium]

MIN_STD = 12.0
"""Pixel std of a grey screenshot; a blank page is ~0, a page of text and images is well above 30."""


def html_attrs(dom: str) -> dict[str, str]:
    tag = re.search(r"<html [^>]*data-ready[^>]*>", dom)
    assert tag is not None
    return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))


def check_page(page: Path, png: Path, min_images: int, fragment: str = "") -> str:
    dom = render(page, png, fragment=fragment)
    grey = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert grey.std() > MIN_STD, f"{png} looks blank (std {grey.std():.1f})"
    attrs = html_attrs(dom)
    assert attrs.get("data-ready") == "1", "the self-check script did not run"
    assert int(attrs["data-images"]) >= min_images
    assert attrs["data-broken-images"] == "0", f"{attrs['data-broken-images']} broken image(s) in {page}"
    return dom


def test_report_renders(report, tmp_path: Path):
    page = report[1]["html"]
    check_page(page, tmp_path / "report.png", min_images=3 + 6)


@pytest.fixture(scope="module")
def browse_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_browser(make_dataset(tmp_path_factory.mktemp("browse")))


def test_browser_renders_and_pages(browse_page: Path, tmp_path: Path):
    page = browse_page
    dom = check_page(page, tmp_path / "browse.png", min_images=5)
    # The paging script ran: a position counter and exactly one record shown.
    assert re.search(r'id="pos">1 / 6<', dom)
    assert dom.count('class="record current"') == 1


def test_browser_filter_and_position_from_the_url(browse_page: Path, tmp_path: Path):
    page = browse_page
    dom = render(page, tmp_path / "browse_test.png", fragment="split=test&task=vqa&i=1")
    # Fake dataset: two test images, only the first of them (index 4) carries vqa.
    assert re.search(r'id="pos">1 / 1<', dom)
    current = re.search(r'<section class="record current"[^>]*>', dom)
    assert current is not None and 'data-split="test"' in current.group(0) and "vqa" in current.group(0)
    dom = render(page, tmp_path / "browse_2.png", fragment="split=train&i=2")
    assert re.search(r'id="pos">2 / 3<', dom)
