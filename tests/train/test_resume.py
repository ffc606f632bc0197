"""SIGKILL a training process mid-epoch (after a checkpoint), resume it, and get the SAME weights as an
uninterrupted run: bit-equal, with LoRA dropout on (so the restored RNG streams matter)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from imax.schema.config import save_yaml
from imax.train.logging import read_log

from .conftest import tiny_config

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def _train_cmd(cfg_path) -> list[str]:
    return [sys.executable, "-m", "imax.cli", "train", "--config", str(cfg_path)]


def _run(cfg_path) -> None:
    proc = subprocess.run(_train_cmd(cfg_path), env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_kill_and_resume_equals_uninterrupted(tiny_data, tmp_path):
    # 24 entries, batch 4 x accum 2: 3 steps an epoch; 20 epochs = 60 steps; checkpoint every 5.
    def cfg_for(out, **kw):
        return tiny_config(tiny_data, out, epochs=20, batch_size=4, grad_accum=2, dropout=0.1,
                           save_every_steps=5, keep_last=3, **kw)

    ref_cfg = save_yaml(cfg_for(tmp_path / "ref"), tmp_path / "ref.yaml")
    _run(ref_cfg)

    run_cfg = save_yaml(cfg_for(tmp_path / "run"), tmp_path / "run.yaml")
    proc = subprocess.Popen(_train_cmd(run_cfg), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = tmp_path / "run" / "checkpoints" / "step-000010"  # step 10 is mid-epoch 4 (10 = 3*3 + 1)
    deadline = time.monotonic() + 240
    while not target.exists():
        assert proc.poll() is None, "training ended before the kill"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "checkpoints" / "final").exists(), "killed too late to test anything"
    done_before = max(r["step"] for r in read_log(tmp_path / "run"))
    assert done_before < 60

    resume_cfg = save_yaml(cfg_for(tmp_path / "run", resume=True), tmp_path / "resume.yaml")
    _run(resume_cfg)

    ref = load_file(str(tmp_path / "ref" / "checkpoints" / "final" / "trainable.safetensors"))
    got = load_file(str(tmp_path / "run" / "checkpoints" / "final" / "trainable.safetensors"))
    assert ref.keys() == got.keys()
    for k in ref:
        assert torch.equal(ref[k], got[k]), k
    # the log of the resumed run is the log of the uninterrupted one, step for step
    ref_log = [(r["step"], r["loss"]) for r in read_log(tmp_path / "ref") if "loss" in r]
    got_log = [(r["step"], r["loss"]) for r in read_log(tmp_path / "run") if "loss" in r]
    assert got_log == ref_log
    assert not list((tmp_path / "run" / "checkpoints").glob(".tmp-*"))
