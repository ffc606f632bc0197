"""Benchmark of :mod:`imax.fisher`: Gram route vs a dense P × P eigendecomposition, vmap vs loop.

At N = 256 probe samples on a tiny LLaVA (LoRA on the LM + trainable projector), measured on the same
per-sample gradients:

* grads:  ``vmap`` (torch.func, the default) vs the per-sample ``loop`` (model.forward + autograd),
* eig:    N × N Gram ``eigvalsh`` (the default) vs the dense Fisher F = JᵀJ/N (P × P) ``eigvalsh``,
* end to end: default route (vmap + Gram) vs loop + dense; max relative difference of the top
  eigenvalues; max relative difference of the gradients.

P is kept small enough that the dense route is feasible (the P × P float64 matrix is P²·8 bytes).
Each phase runs ``--repeats`` times and the fastest is reported (noise on a shared CPU only adds time).
Peak memory is the growth of the process RSS over the phase, sampled every 2 ms (torch allocates
outside Python's allocator, so tracemalloc would not see it).

    python benchmarks/fisher.py                # writes benchmarks/results/fisher.json
    python benchmarks/fisher.py --n 64 --out /tmp/fisher.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from imax.fisher.grads import per_sample_grads, select_params
from imax.fisher.spectrum import fisher_eigenvalues
from imax.model import apply_lora, build_model, num_image_tokens, train_tokenizer
from imax.model.lora import randomize_lora_b
from imax.model.tokenizer import BASE_SPECIALS
from imax.schema.config.model import ModelConfig

N_SPECIAL = len(BASE_SPECIALS)

def tiny_llava(hidden: int, layers: int, r: int, image_size: int, seed: int = 0) -> tuple[torch.nn.Module, Any]:
    """The LLaVA imax assembles (``ModelConfig.tiny`` resized) with imax's LoRA; returns (PeftModel, tokenizer).

    LoRA B is drawn at random (PEFT initialises it to 0, which would make every LoRA-A gradient 0 and leave
    half of the measured Jacobian columns empty).
    """
    cfg = ModelConfig.tiny(
        vision={"image_size": image_size, "hidden_size": 64, "num_layers": 2, "intermediate_size": 128},
        text={"hidden_size": hidden, "num_layers": layers, "intermediate_size": 2 * hidden,
              "max_position_embeddings": 256},
        lora={"r": r, "alpha": 2 * r},
        vocab_size=300,
        seed=seed,
    )  # fmt: skip
    tokenizer = train_tokenizer(["the heart is enlarged, no effusion"] * 8, (), vocab_size=cfg.vocab_size)
    model = apply_lora(build_model(cfg, tokenizer).eval(), cfg.lora)
    randomize_lora_b(model, seed)
    return model, tokenizer


def probe_batches(
    n: int, batch: int, n_image: int, image_size: int, tokenizer: Any, text: int = 40, seed: int = 0
) -> list[dict]:
    """Right-padded random probe: [bos, <image>×n_image, prompt (16), answer (rest)], varying lengths."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        width = 1 + n_image + text
        # ordinary tokens only (ids below N_SPECIAL are <unk> <s> </s> <pad> <image> ...)
        ids = torch.randint(N_SPECIAL, len(tokenizer), (b, width), generator=g)
        ids[:, 0] = tokenizer.bos_token_id
        ids[:, 1 : 1 + n_image] = tokenizer.convert_tokens_to_ids("<image>")
        mask = torch.ones(b, width, dtype=torch.long)
        for i, ln in enumerate(torch.randint(width - text // 2, width + 1, (b,), generator=g).tolist()):
            mask[i, ln:] = 0
        ids[mask == 0] = tokenizer.pad_token_id
        labels = ids.clone()
        labels[:, : 1 + n_image + 16] = -100
        labels[mask == 0] = -100
        out.append(
            {
                "input_ids": ids,
                "attention_mask": mask,
                "labels": labels,
                "pixel_values": torch.randn(b, 1, image_size, image_size, generator=g),
                "task": ["t"] * b,
                "id": [str(start + i) for i in range(b)],
            }
        )
    return out


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(fn: Callable[[], Any], repeats: int = 1) -> tuple[Any, float, float, list[float]]:
    """(result, best seconds, peak RSS growth in bytes, all seconds) of ``repeats`` calls of ``fn()``.

    The minimum is the estimate: on a shared machine noise only ever adds time.
    """
    times, peak_rss = [], 0.0
    for _ in range(repeats):
        out, sec, rss = _measure_once(fn)
        times.append(sec)
        peak_rss = max(peak_rss, rss)
    return out, min(times), peak_rss, times


def _measure_once(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    start, peak, done = _rss(), [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    t0 = time.perf_counter()
    out = fn()
    sec = time.perf_counter() - t0
    done.set()
    t.join()
    return out, sec, max(peak[0], _rss()) - start


def jacobian(model: torch.nn.Module, batches: list[dict], method: str, names: list[str]) -> torch.Tensor:
    return torch.cat([per_sample_grads(model, b, names, method) for b in batches])  # type: ignore[arg-type]


def gram_eig(jac: torch.Tensor) -> torch.Tensor:
    j = jac.double()
    return fisher_eigenvalues(j @ j.T)


def dense_eig(jac: torch.Tensor) -> torch.Tensor:
    j = jac.double()
    fisher = j.T @ j / j.shape[0]  # P × P: what the Gram route avoids
    return torch.linalg.eigvalsh(fisher).flip(0)[: j.shape[0]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="probe samples N")
    ap.add_argument("--batch", type=int, default=32, help="samples per collated batch")
    ap.add_argument("--hidden", type=int, default=32, help="LM width (sets P)")
    ap.add_argument("--layers", type=int, default=1, help="LM layers")
    ap.add_argument("--r", type=int, default=2, help="LoRA rank")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per phase (the minimum is reported)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "fisher.json")
    args = ap.parse_args()

    model, tokenizer = tiny_llava(args.hidden, args.layers, args.r, args.image_size)
    n_image = num_image_tokens(model)
    batches = probe_batches(args.n, args.batch, n_image, args.image_size, tokenizer)
    names = list(select_params(model))
    p = sum(x.numel() for x in select_params(model).values())
    jacobian(model, [{k: v[:2] for k, v in batches[0].items()}], "vmap", names)  # warm-up (lazy inits)
    jacobian(model, [{k: v[:2] for k, v in batches[0].items()}], "loop", names)

    rep = args.repeats
    jv, t_vmap, m_vmap, all_vmap = measure(lambda: jacobian(model, batches, "vmap", names), rep)
    jl, t_loop, m_loop, all_loop = measure(lambda: jacobian(model, batches, "loop", names), rep)
    eg, t_gram, m_gram, all_gram = measure(lambda: gram_eig(jv), rep)
    ed, t_dense, m_dense, all_dense = measure(lambda: dense_eig(jl), rep)

    top = ed > ed[0] * 1e-8  # eigenvalues above round-off level of the dense route
    k = min(10, int(top.sum()))
    rel_top = float(((eg[:k] - ed[:k]).abs() / ed[:k]).max())
    rel_all = float(((eg[top] - ed[top]).abs() / ed[top]).max())
    rel_grad = float((jv - jl).abs().max() / jl.abs().max())
    default_s, reference_s = t_vmap + t_gram, t_loop + t_dense
    result = {
        "setup": {
            "N": args.n,
            "P": p,
            "batch": args.batch,
            "lm_hidden": args.hidden,
            "lm_layers": args.layers,
            "lora_r": args.r,
            "image_size": args.image_size,
            "image_tokens": n_image,
            "seq_len": int(batches[0]["input_ids"].shape[1]),
            "params_selected": "LoRA + projector",
            "dense_matrix_mb": p * p * 8 / 2**20,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(),
            "repeats": rep,
            "load_avg_1min_at_end": os.getloadavg()[0],
        },
        "seconds": {
            "grads_vmap": t_vmap,
            "grads_loop": t_loop,
            "eig_gram": t_gram,
            "eig_dense": t_dense,
            "default_vmap_gram": default_s,
            "reference_loop_dense": reference_s,
        },
        "seconds_all_repeats": {
            "grads_vmap": all_vmap,
            "grads_loop": all_loop,
            "eig_gram": all_gram,
            "eig_dense": all_dense,
        },
        "peak_rss_mb": {
            "grads_vmap": m_vmap / 2**20,
            "grads_loop": m_loop / 2**20,
            "eig_gram": m_gram / 2**20,
            "eig_dense": m_dense / 2**20,
        },
        "speedup": {
            "end_to_end": reference_s / default_s,
            "grads_vmap_vs_loop": t_loop / t_vmap,
            "eig_gram_vs_dense": t_dense / t_gram,
        },
        "agreement": {
            "top_k": k,
            "max_rel_diff_top_eigenvalues": rel_top,
            "max_rel_diff_eigenvalues_above_1e-8": rel_all,
            "max_rel_diff_grads": rel_grad,
            "top_eigenvalues_gram": eg[:5].tolist(),
            "top_eigenvalues_dense": ed[:5].tolist(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
