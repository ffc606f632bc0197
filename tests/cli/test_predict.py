"""``imax predict`` over a folder of mixed formats; DICOM reading (VOI window, MONOCHROME1)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from imax.cli import main

from .images import mixed_folder, write_dicom


def test_predict_mixed_folder(smoke, tmp_path, capsys):
    chest = np.asarray(Image.open(smoke.data / "images" / "img5.png"))
    sizes = mixed_folder(tmp_path / "in", chest)
    out = tmp_path / "preds.jsonl"
    rc = main(["predict", "--model", str(smoke.lora), "--images", str(tmp_path / "in"), "--out", str(out),
               "--tasks", "calculation;rec=heart;reg=1,1,20,20", "--overlays", str(tmp_path / "ov"),
               "--batch-size", "3", "--no-progress"])
    assert rc == 0
    captured = capsys.readouterr()
    skipped = [ln for ln in captured.err.splitlines() if "skipped" in ln]
    assert len(skipped) == 1 and "broken.png" in skipped[0] and "cannot decode" in skipped[0]
    assert "Traceback" not in captured.err
    assert "4 images, 15 answers" in captured.out and "1 unreadable" in captured.out
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [(r["image"], r["task"]) for r in rows] == [
        (f, t) for f in ["broken.png", "deep16.png", "photo.jpg", "plain8.png", "sub/scan.dcm"]
        for t in ("calculation", "rec", "reg")
    ]
    for r in rows:
        if r["image"] == "broken.png":
            assert r["parse_status"].startswith("image_error:") and r["output"] is None
            continue
        assert r["parse_status"] in ("ok", "unparseable") and isinstance(r["output"], str)
        w, h = sizes[r["image"]]
        if r["task"] == "reg":
            assert r["query"]["size"] == [w, h]  # the box is in each image's own pixels
        if r["task"] == "rec" and r["parsed"] is not None:
            assert r["parsed"]["size"] == [w, h]
            assert Image.open(r["overlay"]).size == (w, h)
    assert sum(r["parse_status"] == "ok" for r in rows) >= 10  # the smoke model answers in format


def test_predict_from_a_list_file_with_a_question_that_does_not_fit(smoke, tmp_path, capsys):
    chest = np.asarray(Image.open(smoke.data / "images" / "img5.png"))
    mixed_folder(tmp_path / "in", chest)
    listing = tmp_path / "in" / "list.txt"
    listing.write_text("# two of them\nplain8.png\n\nsub/scan.dcm\nphoto.jpg\n")
    out = tmp_path / "p.jsonl"
    assert main(["predict", "--model", str(smoke.lora), "--images", str(listing), "--out", str(out),
                 "--tasks", "multiclass; reg=1,1,70,70", "--no-progress"]) == 0
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [(r["image"].rsplit("/", 1)[-1], r["task"]) for r in rows] == [
        (f, t) for f in ("plain8.png", "scan.dcm", "photo.jpg") for t in ("multiclass", "reg")
    ]
    # The box fits the 120x90 JPEG only: the 64x64 images get a query_error row and one stderr line each.
    status = [r["parse_status"].split(":")[0] for r in rows]
    assert status[0] == status[2] == status[4] == "ok"
    assert status[1] == status[3] == "query_error" and status[5] in ("ok", "unparseable")
    err = [ln for ln in capsys.readouterr().err.splitlines() if "skipped" in ln]
    assert len(err) == 2 and all("outside the 64x64 image" in ln for ln in err)
    assert "plain8.png" in err[0] and "scan.dcm" in err[1]


def test_predict_unknown_task_fails_before_loading(tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path / "nope"), "--images", str(tmp_path),
                 "--tasks", "report;segment"]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'segment'" in err and err.count("\n") == 1


def test_dicom_window_and_monochrome1(tmp_path):
    from imax.evaluate.predict import is_dicom, read_dicom

    ramp = np.tile(np.linspace(0, 4095, 64), (8, 1)).astype(np.uint16)
    path = write_dicom(tmp_path / "noext", ramp, "MONOCHROME1", window=(1024, 512))
    assert is_dicom(path)  # by the DICM magic, without a suffix
    arr = read_dicom(path)
    assert arr.dtype == np.uint8 and arr.shape == (8, 64)
    # Window [768, 1280]: below it saturates (white after MONOCHROME1 inversion), above it black.
    assert (arr[:, ramp[0] < 700] == 255).all() and (arr[:, ramp[0] > 1350] == 0).all()
    inside = (ramp[0] > 800) & (ramp[0] < 1250)
    assert np.all(np.diff(arr[0, inside].astype(int)) <= 0) and len(set(arr[0, inside])) > 3  # graded, inverted
    plain = read_dicom(write_dicom(tmp_path / "b.dcm", ramp))  # no window: the full range, not inverted
    assert plain[0, 0] == 0 and plain[0, -1] == 255
