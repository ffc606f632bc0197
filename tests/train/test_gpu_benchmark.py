"""``benchmarks/gpu.py``: the prepared GPU check runs end to end on the CPU (``--dry-run``), without
polars (the GPU machine has none), and its full-size model has LLaVA-1.5-7B's exact shapes."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.py"

# Runs the script as __main__ with polars made unimportable, as on the GPU machine.
_NO_POLARS = """
import runpy, sys
class NoPolars:
    def find_spec(self, name, path=None, target=None):
        if name == "polars" or name.startswith("polars."):
            raise ImportError("polars is not installed on the GPU machine")
sys.meta_path.insert(0, NoPolars())
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _gpu_module() -> Any:
    spec = importlib.util.spec_from_file_location("imax_benchmarks_gpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_trains_evaluates_and_reports_without_polars(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _NO_POLARS, str(SCRIPT), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.perf_counter() - start < 60  # ~15 s on a loaded 2-core machine, imports included
    r = json.loads(out.read_text())
    assert r["dry_run"] and r["dtype"] == "float32" and r["gradient_checkpointing"] and r["lora_r"] == 8
    assert r["image_tokens"] == 16 and 0 < r["trainable_parameters"] < r["parameters"]
    t = r["train"]
    assert t["lora_B_norm_after"] > 0  # the optimizer moved the adapters (B starts at zero)
    assert all(math.isfinite(t[k]) and t[k] > 0 for k in ("tokens_per_s", "samples_per_s", "achieved_tflops",
                                                             "mfu", "mfu_with_attention", "loss_first"))
    f = t["flops_per_step"]
    # every item of the 6N count is there and the PaLM attention term is on top of it
    assert all(f[k] > 0 for k in ("lm_body", "lora", "head", "projector", "vision", "attention", "recompute"))
    counted = f["lm_body"] + f["lora"] + f["head"] + f["projector"] + f["vision"]
    assert math.isclose(t["mfu_with_attention"] / t["mfu"], (counted + f["attention"]) / counted, rel_tol=1e-9)
    assert math.isclose(t["tokens_per_step"] * r["timed_steps"] / t["seconds"], t["tokens_per_s"])
    e = r["eval"]
    assert e["decoder"] == "imax.evaluate.decode.lean_greedy"  # the decoder imax evaluate uses
    assert e["samples_per_s"] > 0 and math.isclose(e["generated_tokens_per_s"], e["samples_per_s"] * e["new_tokens"])
    assert r["peak_source"].startswith("measured") and r["peak_gpu_memory_gb"] is None


def test_full_shapes_are_llava_1_5_7b() -> None:
    """Built on the meta device (no memory): llava-hf/llava-1.5-7b-hf has 7,063,427,072 parameters
    (Llama-2-7B with a 32064 vocabulary 6,738,939,904 + CLIP ViT-L/14-336 303,507,456 + projector 20,979,712)."""
    gpu = _gpu_module()
    model = gpu.build_llava(gpu.FULL, torch.bfloat16, torch.device("meta"))
    count = {name: sum(p.numel() for p in part.parameters()) for name, part in (
        ("lm", model.model.language_model), ("vision", model.model.vision_tower),
        ("projector", model.model.multi_modal_projector), ("head", model.lm_head))}
    assert count == {"lm": 6_738_939_904 - 32064 * 4096, "vision": 303_507_456, "projector": 20_979_712,
                     "head": 32064 * 4096}
    assert sum(count.values()) == 7_063_427_072
    assert gpu.n_image_tokens(gpu.FULL) == 576
    assert model.config.vision_feature_layer == -2 and model.config.vision_config.num_channels == 3


def test_card_peaks() -> None:
    gpu = _gpu_module()
    assert gpu.card_peak(torch.device("cpu"), None) == (None, "no GPU")
    assert gpu.card_peak(torch.device("cpu"), 500.0) == (500e12, "--peak-tflops")
    name = lambda card: next(v for k, v in gpu.PEAK_TFLOPS.items() if k in card.upper())  # noqa: E731
    assert name("NVIDIA H100 80GB HBM3") == 989.0 and name("NVIDIA H100 PCIe") == 756.0
    assert name("NVIDIA H100 NVL") == 835.0 and name("NVIDIA H200") == 989.0
