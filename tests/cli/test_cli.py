"""The generated CLI: every command has --help from its config's docstrings; errors are one line."""

import pytest

from imax.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--print-config" in out and "(default:" in out


def test_top_level_help_lists_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in COMMANDS)


def test_unknown_command_is_a_clear_error(capsys):
    assert main(["bulid"]) == 2
    assert "unknown command 'bulid'" in capsys.readouterr().err


def test_bad_value_names_the_key_without_traceback(capsys):
    assert main(["build", "--mode", "centralised"]) == 2
    err = capsys.readouterr().err
    assert "'mode'" in err and "Traceback" not in err


def test_missing_data_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


def test_print_config_round_trips(tmp_path, capsys):
    assert main(["experiment", "--preset", "smoke", "--seeds", "3", "--print-config"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(text)
    assert main(["experiment", "--config", str(tmp_path / "c.yaml"), "--print-config"]) == 0
    assert capsys.readouterr().out == text


def test_pseudo_truth_must_be_an_annotations_parquet(tmp_path, capsys):
    bad = tmp_path / "truth.parquet"
    bad.write_text("not parquet")
    assert main(["pseudo", "--truth", str(bad), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "truth.parquet" in err and "not a readable parquet" in err and "Traceback" not in err
