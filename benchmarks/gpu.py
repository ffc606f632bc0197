"""The prepared GPU check: LoRA fine-tuning and batched evaluation of a random-weight model with the exact
shapes of LLaVA-1.5-7B, in bf16, through imax's own training step and generation — in one command.

    python benchmarks/gpu.py [--steps 20] [--batch-size 16] [--out benchmarks/results/gpu.json]
    python benchmarks/gpu.py --dry-run      # tiny shapes, CPU, float32: checks the script (the test suite runs it)

The model (nothing is downloaded; the weights are random, which costs exactly what trained ones cost):

* vision tower: CLIP ViT-L/14 at 336 px (1024 wide, 24 layers, 16 heads, MLP 4096, 3 channels), features
  from layer -2 without CLS: 576 image tokens;
* projector: 2-layer MLP (1024 → 4096 → 4096, GELU);
* language model: Llama-2-7B (4096 wide, 32 layers, 32 heads, MLP 11008), vocabulary 32064 = 32000 +
  ``<image>`` + padding, as llava-hf/llava-1.5-7b-hf lays it out (``image_token_index`` 32000);
* weights in bf16 on the GPU; ``imax.model.apply_lora`` (r = 8, alpha 16, q/k/v/o/gate/up/down of every
  LM layer, projector trained in full; the trainable set asserted by ``check_trainable``); gradient
  checkpointing on (``gradient_checkpointing_enable``, non-reentrant).

Training: synthetic batches laid out as imax's collator lays them out (``<s> [INST] <image>×576 \\n
instruction [/INST] response </s>``, labels on the response and ``</s>`` only, right padding; instruction
and response lengths drawn per sample), one optimizer step per batch made of the pieces of
``imax.train.loop``: ``answer_losses`` (LM head only at answer positions) under ``Accelerator.autocast``
(bf16 mixed precision), the loop's token-mean loss, ``accelerator.backward``, gradient clipping, and
``build_optimizer``'s AdamW. The first ``--warmup`` steps are not timed.

FLOPs (counted by ``benchmarks/train.py``'s ``flops_per_batch``, the 6N rule itemised there: LM body and
LoRA 6N per token, head 6N per answer token, projector 6N per image token, frozen tower 2N per image):
``mfu`` = those FLOPs / s / the card's dense bf16 peak. ``mfu_with_attention`` adds the attention
matmuls (12 · layers · S · width per token, the PaLM appendix's count); ``mfu_executed`` counts what runs
(4N on frozen weights) and ``hfu_executed`` adds the forward that gradient checkpointing recomputes.

Evaluation: ``imax.evaluate.generate.greedy_generate`` (the lean greedy decoder with a preallocated KV
cache that ``imax evaluate`` uses) on left-padded synthetic prompts with their images, ``--eval-new-tokens``
tokens per prompt (no early stop, so every run does the same work): samples/s and generated tokens/s.

Card peaks (dense bf16 tensor-core TFLOP/s, vendor data sheets): H100 SXM / H200 / GH200 989, H100 NVL
835, H100 PCIe 756, A100 312, L40S 362, L4 121; ``--peak-tflops`` overrides. The dry run measures
the CPU's fp32 matmul peak instead (its MFU only shows the arithmetic runs).

Target (issue #14): mfu >= 0.40 for LoRA on the 7B shape on one H100-class GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

PEAK_TFLOPS = {  # dense bf16, no sparsity; matched against torch.cuda.get_device_name(), first hit wins
    "GH200": 989.0, "H200": 989.0, "H100 NVL": 835.0, "H100 PCIE": 756.0, "H100": 989.0, "H800": 989.0,
    "A100": 312.0, "A800": 312.0, "L40S": 362.0, "L4": 121.0,
}  # fmt: skip

FULL = {  # LLaVA-1.5-7B (llava-hf/llava-1.5-7b-hf)
    "vision": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
               "image_size": 336, "patch_size": 14, "num_channels": 3, "projection_dim": 768,
               "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
    "text": {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
             "intermediate_size": 11008, "vocab_size": 32064, "max_position_embeddings": 4096,
             "rms_norm_eps": 1e-5, "rope_theta": 10000.0},
    "image_token_index": 32000, "instruction": (24, 64), "response": (8, 160),
}  # fmt: skip
TINY = {  # --dry-run: the same composition, small enough for a CPU test
    "vision": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
               "image_size": 56, "patch_size": 14, "num_channels": 3, "projection_dim": 32,
               "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
    "text": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
             "intermediate_size": 128, "vocab_size": 512, "max_position_embeddings": 512,
             "rms_norm_eps": 1e-5, "rope_theta": 10000.0},
    "image_token_index": 500, "instruction": (4, 12), "response": (2, 16),
}  # fmt: skip
BOS, EOS, PAD = 1, 2, 0
INST_OPEN, INST_CLOSE, NEWLINE = 3, 4, 5  # stand-ins for the template tokens (random weights: any id will do)
FIRST_WORD = 6


def _bench_train() -> Any:
    """``benchmarks/train.py`` as a module (its FLOP counting), loaded by path: ``benchmarks`` is no package."""
    spec = importlib.util.spec_from_file_location("imax_benchmarks_train", Path(__file__).with_name("train.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def card_peak(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """(dense bf16 peak in FLOP/s, where it came from) of ``device``'s card."""
    if override is not None:
        return override * 1e12, "--peak-tflops"
    if device.type != "cuda":
        return None, "no GPU"
    name = torch.cuda.get_device_name(device).upper()
    for key, tflops in PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12, f"table: {key}"
    return None, f"unknown card {name!r}: pass --peak-tflops"


def build_llava(shapes: dict[str, Any], dtype: torch.dtype, device: torch.device, seed: int = 0) -> torch.nn.Module:
    """A random-weight ``LlavaForConditionalGeneration`` of ``shapes``, created directly on ``device`` in
    ``dtype`` (a 7B model initialised on the GPU takes seconds; on the CPU first it would take minutes)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    text = LlamaConfig(**shapes["text"], pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
                       tie_word_embeddings=False)
    config = LlavaConfig(vision_config=CLIPVisionConfig(**shapes["vision"]), text_config=text,
                         image_token_index=shapes["image_token_index"], projector_hidden_act="gelu",
                         vision_feature_layer=-2, vision_feature_select_strategy="default",
                         multimodal_projector_bias=True, tie_word_embeddings=False,
                         image_seq_length=(shapes["vision"]["image_size"] // shapes["vision"]["patch_size"]) ** 2)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            model = LlavaForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=dtype)


def enable_checkpointing(model: torch.nn.Module) -> None:
    """Gradient (activation) checkpointing of every layer, non-reentrant, under whichever name this
    transformers has (``activation_checkpointing_enable`` from 5.2x, ``gradient_checkpointing_enable``
    before); raises unless the language model reports it on."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if not getattr(model.model.language_model, "gradient_checkpointing", False):
        raise RuntimeError("gradient checkpointing did not switch on in the language model")


def n_image_tokens(shapes: dict[str, Any]) -> int:
    v = shapes["vision"]
    return (v["image_size"] // v["patch_size"]) ** 2  # "default" strategy: CLS dropped


def train_batch(shapes: dict[str, Any], batch_size: int, rng: torch.Generator) -> dict[str, Any]:
    """One right-padded training batch in imax's collator layout (module docstring), CPU tensors:
    ``input_ids, attention_mask, labels`` long (B, L), ``pixel_values`` float (B, 3, S, S), ``task``."""
    n_img, vocab = n_image_tokens(shapes), shapes["image_token_index"]
    rows, labels = [], []
    for _ in range(batch_size):
        lo, hi = shapes["instruction"]
        n_ins = int(torch.randint(lo, hi + 1, (1,), generator=rng))
        lo, hi = shapes["response"]
        n_res = int(torch.randint(lo, hi + 1, (1,), generator=rng))
        ins = torch.randint(FIRST_WORD, vocab, (n_ins,), generator=rng).tolist()
        res = torch.randint(FIRST_WORD, vocab, (n_res,), generator=rng).tolist()
        prompt = [BOS, INST_OPEN] + [shapes["image_token_index"]] * n_img + [NEWLINE] + ins + [INST_CLOSE]
        rows.append(prompt + res + [EOS])
        labels.append([-100] * len(prompt) + res + [EOS])
    length = max(map(len, rows))
    ids = torch.full((batch_size, length), PAD)
    lab = torch.full((batch_size, length), -100)
    mask = torch.zeros((batch_size, length), dtype=torch.long)
    for i, (r, y) in enumerate(zip(rows, labels, strict=True)):
        ids[i, : len(r)], lab[i, : len(y)], mask[i, : len(r)] = torch.tensor(r), torch.tensor(y), 1
    size = shapes["vision"]["image_size"]
    pixels = torch.randn((batch_size, 3, size, size), generator=rng)
    return {"input_ids": ids, "attention_mask": mask, "labels": lab, "pixel_values": pixels,
            "task": ["report"] * batch_size}


def eval_batch(shapes: dict[str, Any], batch_size: int, rng: torch.Generator) -> dict[str, torch.Tensor]:
    """Left-padded prompts (``<s> [INST] <image>×N \\n instruction [/INST]``) and their images."""
    batch = train_batch(shapes, batch_size, rng)
    prompts = [row[(lab == -100) & (m == 1)] for row, lab, m in
               zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True)]
    length = max(len(p) for p in prompts)
    ids = torch.full((batch_size, length), PAD)
    mask = torch.zeros((batch_size, length), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, length - len(p) :], mask[i, length - len(p) :] = p, 1
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": batch["pixel_values"]}


def attention_flops(shapes: dict[str, Any], batch: dict[str, Any]) -> float:
    """Training FLOPs of the attention matmuls (QKᵀ and AV, forward + backward): 12 · layers · S · width per
    token, S the row's length (PaLM, appendix B)."""
    t = shapes["text"]
    lengths = batch["attention_mask"].sum(1).double()
    return float(12 * t["num_hidden_layers"] * t["hidden_size"] * (lengths**2).sum())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(a: argparse.Namespace) -> dict[str, Any]:
    from accelerate import Accelerator

    from imax.evaluate.generate import greedy_generate
    from imax.model import apply_lora, check_trainable
    from imax.schema.config.model import LoraSettings
    from imax.schema.config.train import TrainConfig
    from imax.train.loop import IGNORE, answer_losses, build_optimizer, per_row_sums
    from imax.train.schedule import lr_at

    bench = _bench_train()
    shapes = TINY if a.dry_run else FULL
    cuda = torch.cuda.is_available() and not a.dry_run
    if not cuda and not a.dry_run:
        raise SystemExit("benchmarks/gpu.py: no CUDA device (use --dry-run to check the script on the CPU)")
    dtype = torch.float32 if a.dry_run else torch.bfloat16
    accelerator = Accelerator(cpu=not cuda, mixed_precision="no" if a.dry_run else "bf16")
    device = accelerator.device
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats(device)

    t0 = time.perf_counter()
    model = build_llava(shapes, dtype, device, seed=a.seed)
    enable_checkpointing(model)
    model.config.use_cache = model.config.text_config.use_cache = False
    model = apply_lora(model, LoraSettings(r=a.lora_r, alpha=2 * a.lora_r))
    check_trainable(model)
    cfg = TrainConfig(lr=a.lr, max_steps=a.steps + a.warmup, batch_size=a.batch_size,
                      mixed_precision="no" if a.dry_run else "bf16")
    optimizer, _ = build_optimizer(model, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in params)
    print(f"model: {n_params / 1e9:.3f} B parameters ({n_trainable / 1e6:.2f} M trainable), built in {build_s:.1f} s, "
          f"{device}, {dtype}", flush=True)

    rng = torch.Generator().manual_seed(a.seed)
    total = a.warmup + a.steps
    losses: list[float] = []
    flops = {k: 0.0 for k in ("lm_body", "lora", "head", "projector", "vision", "executed", "attention", "recompute")}
    tokens = answer_tokens = 0
    timed_s = 0.0
    core = accelerator.unwrap_model(model)
    body = sum(p.numel() for n, p in core.get_base_model().model.language_model.named_parameters()
               if "lora_" not in n and "embed_tokens" not in n)
    for step in range(total):
        batch = train_batch(shapes, a.batch_size, rng)
        lr = lr_at(step, lr=cfg.lr, total=total, warmup=max(1, a.warmup), min_lr=cfg.lr * cfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        _sync(device)
        start = time.perf_counter()
        gpu = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        gpu["pixel_values"] = gpu["pixel_values"].to(dtype)
        denom = float((gpu["labels"][:, 1:] != IGNORE).sum().clamp(min=1))
        tok, rows = answer_losses(model, gpu, accelerator.autocast)
        accelerator.backward(tok.sum() / denom)
        accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sums, counts = per_row_sums(tok.detach(), rows, len(batch["task"]))
        loss = float(sums.sum() / counts.sum())  # syncs: the step is done when this returns
        seconds = time.perf_counter() - start
        losses.append(loss)
        if not math.isfinite(loss):
            raise SystemExit(f"step {step + 1}: loss is {loss}")
        if step >= a.warmup:
            timed_s += seconds
            parts = bench.flops_per_batch(core, batch, vision=True)
            for k, v in parts.items():
                flops[k] += v
            flops["attention"] += attention_flops(shapes, batch)
            flops["recompute"] += 2 * body * int(batch["attention_mask"].sum())  # checkpointed forward, again
            tokens += int(batch["attention_mask"].sum())
            answer_tokens += int(counts.sum())
        print(f"step {step + 1}/{total}: loss {loss:.4f}, {seconds:.3f} s{' (warm-up)' if step < a.warmup else ''}",
              flush=True)
    train_peak_gb = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None
    # LoRA B starts at zero: a non-zero norm shows the optimizer moved the adapters.
    lora_b_norm = float(sum(p.detach().float().norm() ** 2 for n, p in core.named_parameters() if "lora_B" in n) ** 0.5)

    # -- batched evaluation through imax's generation
    model.eval()
    from imax.evaluate.decode import fast_path_supported

    lean = fast_path_supported(core)  # what imax evaluate decodes a LLaVA/Llama model with
    eval_batches = [eval_batch(shapes, a.eval_batch_size, rng) for _ in range(a.eval_batches + 1)]
    eval_s, eval_samples, generated = 0.0, 0, 0
    for k, batch in enumerate(eval_batches):
        _sync(device)
        start = time.perf_counter()
        with accelerator.autocast():
            rows_out = greedy_generate(core, batch["input_ids"].to(device), batch["attention_mask"].to(device),
                                       batch["pixel_values"].to(device, dtype), a.eval_new_tokens, PAD, [])
        _sync(device)
        seconds = time.perf_counter() - start
        assert all(len(r) == a.eval_new_tokens for r in rows_out)  # no stop token: fixed work per row
        if k == 0:
            continue  # warm-up batch
        eval_s += seconds
        eval_samples += len(rows_out)
        generated += sum(map(len, rows_out))
    print(f"eval: {eval_samples} samples in {eval_s:.2f} s", flush=True)

    if a.dry_run:
        peak, peak_source = bench.matmul_peak(n=512, repeats=3) * 1e9, "measured fp32 matmul (dry run, CPU)"
    else:
        peak, peak_source = card_peak(device, a.peak_tflops)
    counted = sum(flops[k] for k in ("lm_body", "lora", "head", "projector", "vision"))

    def util(f: float) -> float | None:
        return f / timed_s / peak if peak else None

    steps = a.steps
    return {
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "dry_run": a.dry_run,
        "dtype": str(dtype).removeprefix("torch."),
        "mixed_precision": cfg.mixed_precision,
        "shapes": {k: v for k, v in shapes.items() if k in ("vision", "text", "image_token_index")},
        "image_tokens": n_image_tokens(shapes),
        "parameters": n_params, "trainable_parameters": n_trainable,
        "lora_r": a.lora_r, "gradient_checkpointing": True,
        "batch_size": a.batch_size, "warmup_steps": a.warmup, "timed_steps": steps,
        "build_s": build_s,
        "train": {
            "seconds": timed_s, "step_s": timed_s / steps,
            "tokens_per_s": tokens / timed_s, "answer_tokens_per_s": answer_tokens / timed_s,
            "samples_per_s": steps * a.batch_size / timed_s,
            "tokens_per_step": tokens / steps,
            "achieved_tflops": counted / timed_s / 1e12,
            "mfu": util(counted),
            "mfu_with_attention": util(counted + flops["attention"]),
            "mfu_executed": util(flops["executed"] + flops["attention"]),
            "hfu_executed": util(flops["executed"] + flops["attention"] + flops["recompute"]),
            "flops_per_step": {k: v / steps for k, v in flops.items()},
            "loss_first": losses[0], "loss_last": losses[-1], "lora_B_norm_after": lora_b_norm,
            "peak_gpu_memory_gb": train_peak_gb,
        },
        "eval": {
            "samples_per_s": eval_samples / eval_s, "generated_tokens_per_s": generated / eval_s,
            "batch_size": a.eval_batch_size, "batches_timed": a.eval_batches, "new_tokens": a.eval_new_tokens,
            "decoder": "imax.evaluate.decode.lean_greedy" if lean else "model.generate",
        },
        "peak_flops": peak, "peak_source": peak_source,
        "peak_gpu_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "versions": {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
                     **_versions()},
        "target": {"mfu": 0.40},
    }


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("transformers", "peft", "accelerate"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU in float32 (checks the script)")
    p.add_argument("--steps", type=int, default=None, help="timed training steps (default 20; dry run 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed first steps (default 3; dry run 1)")
    p.add_argument("--batch-size", type=int, default=None, help="training batch (default 16; dry run 2)")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--eval-batch-size", type=int, default=None, help="default 32; dry run 2")
    p.add_argument("--eval-batches", type=int, default=None, help="timed eval batches (default 3; dry run 1)")
    p.add_argument("--eval-new-tokens", type=int, default=None, help="default 64; dry run 4")
    p.add_argument("--peak-tflops", type=float, default=None, help="the card's dense bf16 peak, if not in the table")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default benchmarks/results/gpu.json (dry run: not written)")
    a = p.parse_args(argv)
    small = a.dry_run
    for name, full, dry in (("steps", 20, 2), ("warmup", 3, 1), ("batch_size", 16, 2), ("eval_batch_size", 32, 2),
                            ("eval_batches", 3, 1), ("eval_new_tokens", 64, 4)):
        if getattr(a, name) is None:
            setattr(a, name, dry if small else full)
    if a.steps < 1:
        raise SystemExit("--steps must be >= 1")
    if a.dry_run:
        torch.set_num_threads(1)  # tiny matmuls: more threads only contend on a shared machine
    result = run(a)
    text = json.dumps(result, indent=2)
    print(text)
    out = a.out if a.out is not None else (None if a.dry_run else Path(__file__).parent / "results" / "gpu.json")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
