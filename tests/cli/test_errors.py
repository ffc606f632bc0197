"""Every ``imax`` command meets a bad path, a bad value, a truncated weights file, a broken tokenizer and a
directory of the wrong kind (where the command reads one): exit code 2, ONE line on stderr naming the
file and what is wrong, never a traceback.

In-process runs (``imax.cli.main``) cover every case quickly; a few cases also run as real subprocesses
to check what a user's terminal shows (library progress bars and warnings included)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from imax.cli import COMMANDS, main


@dataclass
class Broken:
    """Damaged copies of the fixture runs (the originals stay intact for the other tests)."""

    root: Path
    data: Path
    lora_final: Path
    full_final: Path
    base: Path
    base_trunc: Path  # model.safetensors cut in half
    base_badtok: Path  # tokenizer.json cut in half
    ckpt_base_trunc: Path  # LoRA checkpoint whose base.json names base_trunc
    ckpt_base_badtok: Path
    ckpt_adapter_trunc: Path  # adapter/adapter_model.safetensors cut
    ckpt_trainable_trunc: Path  # trainable.safetensors cut
    full_trunc: Path  # full fine-tune with model/model.safetensors cut
    run_base_trunc: Path  # a run whose checkpoints point at base_trunc
    run_base_badtok: Path
    run_resume_trunc: Path  # a run whose latest step checkpoint has a cut trainable.safetensors
    file: Path  # a regular file where a directory is expected


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _repoint(run_or_ckpt: Path, base: Path) -> None:
    for pointer in [run_or_ckpt / "base.json", *run_or_ckpt.glob("checkpoints/*/base.json")]:
        if pointer.is_file():
            pointer.write_text(json.dumps({"path": str(base)}))


@pytest.fixture(scope="module")
def broken(runs, tmp_path_factory) -> Broken:
    root = tmp_path_factory.mktemp("broken")
    lora_final = runs.lora / "checkpoints" / "final"

    def copy(src: Path, name: str) -> Path:
        return Path(shutil.copytree(src, root / name))

    base_trunc = copy(runs.base, "base_trunc")
    _cut(base_trunc / "model.safetensors")
    base_badtok = copy(runs.base, "base_badtok")
    _cut(base_badtok / "tokenizer.json")
    ckpt_base_trunc = copy(lora_final, "ckpt_base_trunc")
    _repoint(ckpt_base_trunc, base_trunc)
    ckpt_base_badtok = copy(lora_final, "ckpt_base_badtok")
    _repoint(ckpt_base_badtok, base_badtok)
    ckpt_adapter_trunc = copy(lora_final, "ckpt_adapter_trunc")
    _cut(ckpt_adapter_trunc / "adapter" / "adapter_model.safetensors")
    ckpt_trainable_trunc = copy(lora_final, "ckpt_trainable_trunc")
    _cut(ckpt_trainable_trunc / "trainable.safetensors")
    full_trunc = copy(runs.full / "checkpoints" / "final", "full_trunc")
    _cut(full_trunc / "model" / "model.safetensors")
    run_base_trunc = copy(runs.lora, "run_base_trunc")
    _repoint(run_base_trunc, base_trunc)
    run_base_badtok = copy(runs.lora, "run_base_badtok")
    _repoint(run_base_badtok, base_badtok)
    run_resume_trunc = copy(runs.lora, "run_resume_trunc")
    _cut(run_resume_trunc / "checkpoints" / "step-000004" / "trainable.safetensors")
    file = root / "a-file.txt"
    file.write_text("not a directory\n")
    return Broken(root=root, data=runs.data, lora_final=lora_final, full_final=runs.full / "checkpoints" / "final",
                  base=runs.base, base_trunc=base_trunc, base_badtok=base_badtok, ckpt_base_trunc=ckpt_base_trunc,
                  ckpt_base_badtok=ckpt_base_badtok, ckpt_adapter_trunc=ckpt_adapter_trunc,
                  ckpt_trainable_trunc=ckpt_trainable_trunc, full_trunc=full_trunc, run_base_trunc=run_base_trunc,
                  run_base_badtok=run_base_badtok, run_resume_trunc=run_resume_trunc, file=file)


def _train(b: Broken, out: str, *extra: str) -> list[str]:
    return ["train", "--data", str(b.data), "--out", str(b.root / out), "--max-steps", "1", "--batch-size", "4",
            "--max-length", "128", "--no-progress", "--fisher-fractions", "", *extra]


def _eval(b: Broken, model: Path, *extra: str) -> list[str]:
    return ["evaluate", "--model", str(model), "--data", str(b.data), "--split", "val", "--out",
            str(b.root / "eval"), "--bootstrap", "0", "--no-meteor", *extra]


def _fisher(b: Broken, run: Path, *extra: str) -> list[str]:
    return ["fisher", "--run", str(run), "--data", str(b.data), "--n-probe", "4", "--no-plot", "--out",
            str(b.root / "fisher.json"), *extra]


def _pseudo(b: Broken, stage1: Path, *extra: str) -> list[str]:
    return ["pseudo", "--data", str(b.data), "--stage1", str(stage1), "--out", str(b.root / "pseudo"),
            "--max-images", "1", *extra]


# (case id, argv builder, text the one error line must contain)
CASES = [
    # phantom
    ("phantom/bad-path", lambda b: ["phantom", "--out", str(b.file / "sub"), "--patients", "3"], "a-file.txt"),
    ("phantom/bad-value", lambda b: ["phantom", "--patients", "many"], "'patients'"),
    # build
    ("build/bad-path", lambda b: ["build", "--sources", str(b.root / "nope"), "--out", str(b.root / "o")], "nope"),
    ("build/bad-value", lambda b: ["build", "--mode", "centralised"], "'mode'"),
    ("build/wrong-kind", lambda b: ["build", "--sources", str(b.lora_final), "--out", str(b.root / "o2")],
     "final"),
    # check-leakage
    ("check-leakage/bad-path", lambda b: ["check-leakage", str(b.root / "nope")], "nope"),
    ("check-leakage/wrong-kind", lambda b: ["check-leakage", str(b.lora_final)], "final"),
    # pretrain
    ("pretrain/bad-value", lambda b: ["pretrain", "--preset", "huge"], "'preset'"),
    ("pretrain/bad-path", lambda b: ["pretrain", "--pool", str(b.root / "nope"), "--out", str(b.root / "pt")],
     "nope"),
    ("pretrain/wrong-kind", lambda b: ["pretrain", "--pool", str(b.lora_final), "--out", str(b.root / "pt2")],
     "final"),
    # train
    ("train/bad-path", lambda b: _train(b, "t1", "--data", str(b.root / "nope")), "nope"),
    ("train/bad-value", lambda b: _train(b, "t2", "--lr", "fast"), "'lr'"),
    ("train/bad-dtype", lambda b: _train(b, "t2b", "--dtype", "float8"), "'dtype'"),
    ("train/truncated-base", lambda b: _train(b, "t3", "--base", str(b.base_trunc)), "model.safetensors"),
    ("train/broken-tokenizer", lambda b: _train(b, "t4", "--base", str(b.base_badtok)), "tokenizer.json"),
    ("train/wrong-kind-data-as-base", lambda b: _train(b, "t5", "--base", str(b.data)), "built dataset"),
    ("train/wrong-kind-ckpt-as-base", lambda b: _train(b, "t6", "--base", str(b.lora_final)), "LoRA checkpoint"),
    ("train/truncated-init-from", lambda b: _train(b, "t7", "--base", str(b.base), "--init-from",
                                                   str(b.ckpt_trainable_trunc)), "trainable.safetensors"),
    ("train/truncated-resume", lambda b: ["train", "--config", str(b.run_resume_trunc / "config.yaml"), "--out",
                                          str(b.run_resume_trunc), "--base", str(b.base), "--resume",
                                          "--no-progress"], "trainable.safetensors"),
    ("train/lora-regex-on-vision", lambda b: _train(b, "t8", "--base", str(b.base), "--model.lora.target-regex",
                                                    r".*\.(q_proj|v_proj)"), "vision_tower"),
    ("train/hub-id-not-cached", lambda b: _train(b, "t9", "--base", "no-such-org/no-such-model"),
     "no-such-org/no-such-model"),
    # export
    ("export/bad-path", lambda b: ["export", "--checkpoint", str(b.root / "nope"), "--out", str(b.root / "x")],
     "nope"),
    ("export/bad-value", lambda b: ["export", "--checkpoint", str(b.lora_final), "--merge", "--out",
                                    str(b.root / "x0"), "--base", str(b.file)], "a-file.txt"),
    ("export/truncated-base", lambda b: ["export", "--checkpoint", str(b.ckpt_base_trunc), "--out",
                                         str(b.root / "x1")], "model.safetensors"),
    ("export/truncated-adapter", lambda b: ["export", "--checkpoint", str(b.ckpt_adapter_trunc), "--out",
                                            str(b.root / "x2")], "adapter_model.safetensors"),
    ("export/truncated-full", lambda b: ["export", "--checkpoint", str(b.full_trunc), "--out", str(b.root / "x3")],
     "model.safetensors"),
    ("export/broken-tokenizer", lambda b: ["export", "--checkpoint", str(b.ckpt_base_badtok), "--out",
                                           str(b.root / "x4")], "tokenizer.json"),
    ("export/wrong-kind-data", lambda b: ["export", "--checkpoint", str(b.data), "--out", str(b.root / "x5")],
     "built dataset"),
    ("export/wrong-kind-base", lambda b: ["export", "--checkpoint", str(b.base), "--out", str(b.root / "x6")],
     "plain model directory"),
    # evaluate
    ("evaluate/bad-path", lambda b: _eval(b, b.root / "nope"), "nope"),
    ("evaluate/bad-value", lambda b: _eval(b, b.lora_final, "--batch-size", "big"), "'batch_size'"),
    ("evaluate/truncated-base", lambda b: _eval(b, b.ckpt_base_trunc), "model.safetensors"),
    ("evaluate/truncated-full", lambda b: _eval(b, b.full_trunc), "model.safetensors"),
    ("evaluate/broken-tokenizer", lambda b: _eval(b, b.ckpt_base_badtok), "tokenizer.json"),
    ("evaluate/wrong-kind-model", lambda b: _eval(b, b.data), "built dataset"),
    ("evaluate/wrong-kind-data", lambda b: ["evaluate", "--model", str(b.lora_final), "--data", str(b.lora_final),
                                            "--out", str(b.root / "e2")], "final"),
    # fisher
    ("fisher/bad-path", lambda b: _fisher(b, b.root / "nope"), "nope"),
    ("fisher/bad-value", lambda b: _fisher(b, b.run_base_trunc, "--n-probe", "lots"), "'n_probe'"),
    ("fisher/truncated-base", lambda b: _fisher(b, b.run_base_trunc), "model.safetensors"),
    ("fisher/broken-tokenizer", lambda b: _fisher(b, b.run_base_badtok), "tokenizer.json"),
    ("fisher/wrong-kind-run", lambda b: _fisher(b, b.data), "built dataset"),
    ("fisher/wrong-kind-data", lambda b: ["fisher", "--run", str(b.run_base_trunc), "--data", str(b.lora_final)],
     "final"),
    # pseudo
    ("pseudo/bad-path", lambda b: ["pseudo", "--data", str(b.root / "nope"), "--out", str(b.root / "p0")], "nope"),
    ("pseudo/bad-value", lambda b: _pseudo(b, b.run_base_trunc, "--keep-fraction", "half"), "'keep_fraction'"),
    ("pseudo/truncated-base", lambda b: _pseudo(b, b.run_base_trunc), "model.safetensors"),
    ("pseudo/broken-tokenizer", lambda b: _pseudo(b, b.run_base_badtok), "tokenizer.json"),
    ("pseudo/wrong-kind-stage1", lambda b: _pseudo(b, b.data), "built dataset"),
    # experiment
    ("experiment/bad-value", lambda b: ["experiment", "--preset", "gigantic"], "'preset'"),
    ("experiment/bad-path", lambda b: ["experiment", "--sources", str(b.root / "nope"), "--out", str(b.root / "x")],
     "nope"),
    ("experiment/truncated-base", lambda b: ["experiment", "--base", str(b.base_trunc), "--out", str(b.root / "x")],
     "model.safetensors"),
    ("experiment/broken-tokenizer", lambda b: ["experiment", "--base", str(b.base_badtok), "--out",
                                               str(b.root / "x")], "tokenizer.json"),
    ("experiment/wrong-kind-base", lambda b: ["experiment", "--base", str(b.data), "--out", str(b.root / "x")],
     "built dataset"),
    # browse
    ("browse/bad-path", lambda b: ["browse", str(b.root / "nope")], "nope"),
    ("browse/bad-value", lambda b: ["browse", str(b.data), "--max-images", "all"], "'max_images'"),
    ("browse/wrong-kind", lambda b: ["browse", str(b.lora_final)], "final"),
]


def test_every_command_is_walked():
    assert {case[0].split("/")[0] for case in CASES} == set(COMMANDS)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_user_error_is_one_line_exit_2(case, broken, capsys):
    name, argv, expected = case
    code = main(argv(broken))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, (name, captured.err[-2000:])
    assert "Traceback" not in captured.err
    assert len(lines) == 1, lines
    command = name.split("/")[0]
    assert lines[0].startswith(f"imax {command}: error: "), lines[0]
    assert expected in lines[0], lines[0]


SUBPROCESS = ["train/truncated-base",
              pytest.param("evaluate/broken-tokenizer", marks=pytest.mark.slow),
              pytest.param("export/truncated-adapter", marks=pytest.mark.slow),
              pytest.param("fisher/truncated-base", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", SUBPROCESS)
def test_terminal_shows_one_line(name, broken):
    """The real process: stderr (library output included) is exactly the one error line."""
    argv = next(case[1] for case in CASES if case[0] == name)(broken)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "imax.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"imax {name.split('/')[0]}: error: "), proc.stderr[-2000:]
