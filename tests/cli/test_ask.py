"""``imax ask`` on a smoke-trained checkpoint: every task answers in a parseable form, rec writes an
overlay with the box in the user's pixels, and bad input is one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from imax.cli import main
from imax.tasks import TASKS

ARGS = {"rec": "heart", "reg": "24,30,42,50", "vqa": "is the heart enlarged?", "calculation": "cpar"}
"""A TEXT per task that takes one (the box is the heart's box of the smoke images)."""


@pytest.fixture(scope="module")
def predictor(smoke):
    from imax.evaluate.predict import load_predictor

    with load_predictor(smoke.lora) as p:
        yield p


def test_every_task_answers_parseably(smoke, predictor, tmp_path):
    from imax.evaluate.predict import Question, ask, prepare_image

    image = prepare_image(smoke.data / "images" / "img5.png", tmp_path)
    for task, spec in TASKS.items():
        row = ask(predictor, image, Question(task, ARGS.get(task)))
        assert row["prompt"].startswith(spec.token + " "), task
        assert isinstance(row["output"], str) and row["output"], task
        # The parser that scored it is the task table's, applied to the raw text.
        assert row["parse_status"] == "ok", (task, row["output"])
        assert row["parsed"] == spec.parse_answer(row["output"], row["query"]), task
        # What the model says round-trips through the task's own formatter (the answer is well formed).
        assert spec.parse_answer(spec.format_answer(row["query"], row["parsed"]), row["query"]) == row["parsed"]
    assert row["query"]["content_type"] == ""  # vqa: a user's free question carries no template type


def test_cli_rec_json_and_overlay(smoke, tmp_path, capsys):
    # A bigger, non-square copy of the test image: the box must come back in ITS pixels.
    src = Image.open(smoke.data / "images" / "img5.png").resize((128, 96))
    src.save(tmp_path / "x.png")
    rc = main(["ask", "--model", str(smoke.lora), "--image", str(tmp_path / "x.png"), "--task", "rec",
               "--overlay", str(tmp_path / "ov.png"), "--json", "heart"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parse_status"] == "ok" and out["parsed"]["size"] == [128, 96]
    x1, y1, x2, y2 = out["parsed"]["box"]
    assert 0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 96
    assert [b["role"] for b in out["boxes"]] == ["answer"] and out["boxes"][0]["label"] == "heart"
    overlay = np.asarray(Image.open(out["overlay"]))
    assert overlay.shape == (96, 128, 3)
    red = (overlay[..., 0] > 200) & (overlay[..., 1] < 100)
    ys, xs = np.nonzero(red)
    assert red.sum() > 20 and abs(xs.min() - x1) <= 3 and abs(ys.max() - y2) <= 3  # the box's edges


def test_cli_text_output_full_finetune_run(smoke, capsys):
    # A full fine-tune run directory: resolved to checkpoints/final/model.
    rc = main(["ask", "--model", str(smoke.full), "--image", str(smoke.data / "images" / "img5.png"),
               "--task", "reg", "24,30,42,50"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "prompt:  [identify]" in out and "status:  ok" in out and "box:     query [24.0, 30.0, 42.0, 50.0]" in out


def _one_line_error(capsys, *args: str) -> str:
    assert main(["ask", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_bad_input_is_one_line(smoke, tmp_path, capsys):
    img = str(smoke.data / "images" / "img5.png")
    model = str(smoke.lora)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    err = _one_line_error(capsys, "--model", model, "--image", str(tmp_path / "bad.jpg"), "--task", "report")
    assert "bad.jpg" in err and "cannot decode" in err
    err = _one_line_error(capsys, "--model", model, "--image", img, "--task", "segment")
    assert "unknown task 'segment'" in err and "rec" in err
    err = _one_line_error(capsys, "--model", model, "--image", img, "--task", "reg", "10,10,70,40")
    assert "outside the 64x64 image" in err
    err = _one_line_error(capsys, "--model", model, "--image", img, "--task", "rec")
    assert "needs an argument" in err
    err = _one_line_error(capsys, "--model", model, "--image", img, "--task", "report", "the heart")
    assert "takes no argument" in err
    no_tok = tmp_path / "no-tokenizer"
    shutil.copytree(smoke.full / "checkpoints" / "final" / "model", no_tok)
    (no_tok / "tokenizer.json").unlink()
    err = _one_line_error(capsys, "--model", str(no_tok), "--image", img, "--task", "report")
    assert "no tokenizer.json" in err
