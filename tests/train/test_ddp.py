"""Two-process DDP on the CPU (gloo, via torchrun) trains the same weights as one process with the same
global batch: per-rank batches are slices of one global batch and the loss is the global token mean.
The multi-process run's weights did move, and its saved adapter + projector reload to the trained model
(the exact trained tensors give the same outputs)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from imax.schema.config import save_yaml
from imax.train.loop import train

from .conftest import tiny_config


def test_two_process_ddp_matches_one_process(tiny_data, tmp_path):
    def cfg_for(out):
        # no dropout: each rank draws its own masks, so dropout can only match in distribution
        return tiny_config(tiny_data, out, epochs=2, batch_size=4, grad_accum=2, lr=1e-2, dropout=0.0,
                           fisher_fractions=(0.0,), base=tmp_path / "base")

    # Build the tiny base once and hand the same directory to both runs.
    one = train(dataclasses.replace(cfg_for(tmp_path / "one"), base=None))
    shutil.copytree(one.out / "base", tmp_path / "base")
    ref = load_file(str(one.final / "trainable.safetensors"))

    cfg_path = save_yaml(cfg_for(tmp_path / "two"), tmp_path / "two.yaml")
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "imax.cli", "train",
                           "--config", str(cfg_path)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = (tmp_path / "two" / "checkpoints" / "final" / "state.json").read_text()
    assert '"world": 2' in state
    assert (tmp_path / "two" / "checkpoints" / "final" / "rng-rank1.json").is_file()
    got = load_file(str(tmp_path / "two" / "checkpoints" / "final" / "trainable.safetensors"))
    assert ref.keys() == got.keys()
    moved = 0.0
    for k in ref:
        assert torch.allclose(ref[k], got[k], atol=1e-5, rtol=0), (k, (ref[k] - got[k]).abs().max())
        moved = max(moved, float(ref[k].abs().max()))
    assert moved > 1e-3
    # Every trainable tensor moved away from its initial value (the step-0 checkpoint) ...
    initial = load_file(str(tmp_path / "two" / "checkpoints" / "fisher-f0" / "trainable.safetensors"))
    unchanged = [k for k in got if torch.equal(got[k], initial[k])]
    assert not unchanged, unchanged[:5]
    # ... and what evaluate/export load (PEFT adapter + projector) is exactly the trained model.
    assert_adapter_reloads_trained(tmp_path / "two" / "checkpoints" / "final", tmp_path / "base")


def assert_adapter_reloads_trained(final: Path, base: Path) -> None:
    """The PEFT adapter of ``final`` gives the outputs of base + LoRA carrying ``trainable.safetensors``."""
    from imax.model import apply_lora, load_base, load_checkpoint, num_image_tokens
    from imax.schema.config import load_yaml
    from imax.schema.config.train import TrainConfig
    from imax.train.checkpoint import load_trainable

    reloaded, tokenizer = load_checkpoint(final)
    model, _ = load_base(base)
    model = apply_lora(model, load_yaml(TrainConfig, final / "config.yaml").model.lora)
    load_trainable(model, final / "trainable.safetensors")
    model.eval()
    n = num_image_tokens(model)
    image = model.config.image_token_index
    ids = torch.tensor([[tokenizer.bos_token_id, *[image] * n, *tokenizer.encode("heart normal", add_special_tokens=False)]])
    pixels = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids, pixel_values=pixels).logits,
                                   model(input_ids=ids, pixel_values=pixels).logits, atol=1e-6, rtol=1e-5)
