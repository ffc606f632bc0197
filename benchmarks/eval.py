"""Benchmark: batched left-padded greedy generation vs a per-sample ``generate`` loop.

Same tiny random LLaVA (imax's default tiny config unless --small), same prompts (real instructions of
every task, rendered by imax.data), same images, in one run. The baseline is plain transformers
``model.generate`` called once per prompt; the batched path is imax's ``greedy_generate``; batched
``model.generate`` is timed too, for reference. All paths generate exactly ``--max-new-tokens`` tokens
per prompt (EOS disabled) so they do the same work, and their outputs are checked to be identical.
Writes JSON (default benchmarks/results/eval.json).

    .venv/bin/python benchmarks/eval.py          # 32 prompts, batch 32; 8/32/128 new tokens; 1 and 2 threads
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch


def build(small: bool):
    from imax.model import build_model, num_image_tokens, train_tokenizer
    from imax.schema.config.model import ModelConfig
    from imax.tasks import TASK_TOKENS, TASKS

    corpus = [spec.render_instruction(_query(name), k) for name, spec in TASKS.items() for k in range(5)]
    tok = train_tokenizer(corpus * 4, TASK_TOKENS, vocab_size=1000)
    cfg = ModelConfig(vocab_size=1000, seed=0)
    if small:
        cfg = ModelConfig.tiny(
            vision={"image_size": 64, "hidden_size": 64, "num_layers": 2, "intermediate_size": 128},
            text={"hidden_size": 64, "intermediate_size": 128, "max_position_embeddings": 512},
            vocab_size=1000,
        )
    model = build_model(cfg, tok).eval()
    return model, tok, num_image_tokens(model), cfg.vision.image_size


def _query(task: str) -> dict:
    return {
        "calculation": {"measure": "ctr"},
        "report": {},
        "multiclass": {"label_space": "edema_severity"},
        "multilabel": {"label_space": "chexpert14"},
        "rec": {"phrase": "heart"},
        "reg": {"box": [10, 20, 50, 60], "size": [100, 100]},
        "vqa": {"question": "Is there a pleural effusion in the left lung?", "content_type": "presence",
                "semantic_type": "verify"},
    }[task]  # fmt: skip


def prompts(tok, n_image: int, n: int) -> list[list[int]]:
    from imax.data import ChatTemplate, entry_to_prompt, prompt_ids
    from imax.tasks import TASKS

    template = ChatTemplate(tok, tok.chat_template, "<image>", n_image)  # the tokenizer's own template

    names = list(TASKS)
    out = []
    for i in range(n):
        task = names[i % len(names)]
        entry = {"instruction": TASKS[task].render_instruction(_query(task), i), "response": ""}
        out.append(prompt_ids(entry_to_prompt(entry), template))
    return out


def _timed(fn) -> tuple[float, float, list[list[int]]]:
    """Wall and process-CPU seconds of ``fn()``, and its result."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def measure(model, tok, ids, pixels, batch_size: int, max_new_tokens: int, repeats: int) -> dict:
    """Per-sample ``model.generate`` loop, imax's batched path, and batched ``model.generate``, on the
    same prompts; wall and process CPU seconds of each (best of ``repeats``, see below)."""
    from imax.data import pad_batch
    from imax.evaluate.generate import greedy_generate, hf_greedy_generate

    n = len(ids)
    kw = {"max_new_tokens": max_new_tokens, "pad_token_id": tok.pad_token_id, "eos_token_id": -1}

    def batched(generate) -> list[list[int]]:
        out: list[list[int]] = []
        for k in range(0, n, batch_size):
            rows = ids[k : k + batch_size]
            out += generate(
                model,
                pad_batch(rows, tok.pad_token_id, "left"),
                pad_batch([[1] * len(r) for r in rows], 0, "left"),
                pixels[k : k + batch_size],
                **kw,
            )
        return out

    def single(i: int) -> list[int]:
        # The honest baseline: plain transformers generate on one prompt (no padding, no mask).
        r = ids[i]
        return hf_greedy_generate(
            model, torch.tensor([r]), torch.ones(1, len(r), dtype=torch.long), pixels[i : i + 1], **kw
        )[0]

    # Wall time is what a user waits; process CPU time is reported too because this machine's cores are
    # shared and wall time then also measures the neighbours. Against that noise the three paths are
    # interleaved within each repeat, and each keeps its best whole run over the repeats (the same
    # estimator for every path). Also reported: the per-sample loop as a sum of per-prompt minima over
    # the repeats, a lower bound no single run of it reached (32 draws of the quietest moment).
    inf = float("inf")
    best = {"batched": [inf, inf], "hf": [inf, inf], "single": [inf, inf]}
    outs: dict[str, list[list[int]]] = {}
    single_best = [[inf, inf] for _ in range(n)]
    for _ in range(repeats):
        for key, generate in (("batched", greedy_generate), ("hf", hf_greedy_generate)):
            wall, cpu, outs[key] = _timed(lambda generate=generate: batched(generate))
            best[key] = [min(best[key][0], wall), min(best[key][1], cpu)]
        out_single, round_wall, round_cpu = [], 0.0, 0.0
        for i in range(n):
            wall, cpu, out = _timed(lambda i=i: single(i))
            single_best[i] = [min(single_best[i][0], wall), min(single_best[i][1], cpu)]
            round_wall, round_cpu = round_wall + wall, round_cpu + cpu
            out_single.append(out)
        best["single"] = [min(best["single"][0], round_wall), min(best["single"][1], round_cpu)]
    t_single, c_single = best["single"]
    t_minima = sum(w for w, _ in single_best)
    (t_batched, c_batched), (t_hf, c_hf) = best["batched"], best["hf"]
    return {
        "max_new_tokens": max_new_tokens,
        "per_sample_s": round(t_single, 3),
        "batched_s": round(t_batched, 3),
        "per_sample_samples_per_s": round(n / t_single, 3),
        "batched_samples_per_s": round(n / t_batched, 3),
        "speedup": round(t_single / t_batched, 2),
        "per_sample_cpu_s": round(c_single, 3),
        "batched_cpu_s": round(c_batched, 3),
        "speedup_cpu_time": round(c_single / c_batched, 2),
        "hf_batched_s": round(t_hf, 3),
        "hf_batched_cpu_s": round(c_hf, 3),
        "speedup_hf_batched": round(t_single / t_hf, 2),
        "per_sample_sum_of_prompt_minima_s": round(t_minima, 3),
        "speedup_vs_sum_of_prompt_minima": round(t_minima / t_batched, 2),
        "identical_outputs": out_single == outs["batched"] == outs["hf"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="prompts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--max-new-tokens",
        type=int,
        nargs="+",
        default=[8, 32, 128],
        help="generation lengths to sweep (imax budgets: ratios 8, labels 48, reports 128)",
    )
    # 1 thread first: on a CPU shared with other jobs, intra-op threads spin-wait on each other and a
    # 2-thread run can measure mostly the neighbours; 2 threads is the whole (2-core) machine when quiet.
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5, help="timings are the best of this many runs")
    ap.add_argument("--small", action="store_true", help="a smaller model than the default tiny one")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "eval.json")
    args = ap.parse_args()
    torch.manual_seed(0)
    import transformers

    transformers.logging.set_verbosity_error()  # EOS is disabled on purpose (-1); silence that warning
    from imax.evaluate.decode import fast_path_supported
    from imax.evaluate.generate import greedy_generate, hf_greedy_generate

    model, tok, n_image, size = build(args.small)
    ids = prompts(tok, n_image, args.n)
    pixels = torch.randn(args.n, 1, size, size, generator=torch.Generator().manual_seed(0))
    warm = ids[0]
    lean = fast_path_supported(model)
    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for generate in (greedy_generate, hf_greedy_generate):
            generate(model, torch.tensor([warm]), torch.ones(1, len(warm), dtype=torch.long), pixels[:1], 4,
                     tok.pad_token_id, -1)  # fmt: skip
        for m in args.max_new_tokens:
            run = measure(model, tok, ids, pixels, args.batch_size, m, args.repeats)
            runs.append({"threads": threads, **run})
            print(json.dumps(runs[-1]), flush=True)
    result = {
        "benchmark": "batched vs per-sample greedy generation (imax.evaluate.generate.greedy_generate)",
        "model": "imax tiny LLaVA, random weights"
        + (" (--small)" if args.small else " (default ModelConfig)"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "image_tokens": n_image,
        "prompt_tokens": {"min": min(map(len, ids)), "max": max(map(len, ids))},
        "n_prompts": args.n,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "batched_path": "imax.evaluate.decode.lean_greedy" if lean else "model.generate",
        "target_speedup": 8.0,
        "runs": runs,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "note": "per_sample = plain transformers model.generate, one prompt at a time; batched = imax's "
        "greedy_generate (lean loop: preallocated KV cache, the Llama layer replayed per step with q|k|v and "
        "gate|up as one batched GEMM each, finished rows dropped); hf_batched = "
        "model.generate on the same left-padded batches, for reference. EOS disabled: every path "
        "generates exactly max_new_tokens per prompt (equal work). The prefill (vision tower + prompt) "
        "costs about the same in all paths, so the speedup grows with answer length. The paths are "
        "interleaved in each of `repeats` rounds and each path's time is its best round; "
        "per_sample_sum_of_prompt_minima_s sums each prompt's best round instead (a lower bound for the "
        "per-sample loop that flatters it).",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
