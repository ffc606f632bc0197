from pathlib import Path

from imax.cli import build_parser, main


def test_help_comes_from_field_docstrings(capsys):
    parser = build_parser("phantom")
    text = parser._subparsers._group_actions[0].choices["phantom"].format_help()
    assert "--image-size" in text and "Side of the square images" in text and "--preview" in text


def test_cli_prints_summary(tmp_path: Path, capsys):
    assert main(["phantom", "--out", str(tmp_path), "--patients", "5", "--image-size", "64", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "images/s" in out and "CTRs.csv" in out and (tmp_path / "phantom_summary.json").exists()


def test_bad_image_size_is_one_clear_line(tmp_path: Path, capsys):
    assert main(["phantom", "--out", str(tmp_path), "--patients", "2", "--image-size", "100"]) == 2
    assert "multiple of 32" in capsys.readouterr().err
