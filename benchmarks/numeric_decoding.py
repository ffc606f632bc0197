"""How much does greedy decoding hide of what a model knows about numbers? Median decoding vs greedy.

A number is written digit by digit ("0.52" is ``0 . 5 2``, a box coordinate ``3 7``), and greedy decoding
takes each digit's argmax. When the model's belief about a value is spread (a CTR of 0.47 or 0.53 with
similar mass), the argmax of the first digit can stay the same for every image while the distribution
under it moves with the image: the answers collapse to a few values and score below the train median.
The value that minimises the expected absolute error under the model's own distribution is its
**median**, and calculation is scored by MAE. This script measures what that decoding would change,
without changing imax's decoder (``imax evaluate`` decodes greedily, as the study does).

Median decoding here: decode greedily until the next token is a digit; there compute the model's
distribution over the digit run's value from the digit tree (the first digit's probabilities, then, for
each first digit, the second digit's or the run's end), take its median, write it, and go on greedily.
A run after a decimal point is read as hundredths ("5" = 0.50), any other run as an integer; the tree
reads two digits (0–99; a digit the model writes after them starts a run of its own). Teacher-forced
forwards without a KV cache: 11 forwards per number, slow, fine for a val split.

Every answer, greedy or median, is parsed and scored by imax's own scorer beside the task's trivial
baseline (fitted on the data's train split) with the paired bootstrap of ``imax evaluate``. For VQA (with
``--vqa-priors``) the greedy answers are also set beside two text-only priors: the trivial baseline (the
majority train answer of the same question text) and the majority per question template
(content/semantic type, one template each on the phantom). It selects nothing; score a val split.

    .venv/bin/python benchmarks/numeric_decoding.py --data DATA/imax --split val \\
        --models RUN_A/checkpoints/final,RUN_B/checkpoints/final --vqa-priors \\
        --out benchmarks/results/numeric-decoding-val.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

RUN_DIGITS = 2
"""Digits of a run read by the tree (two: 0–99, or hundredths after a decimal point)."""
MAX_RUNS = 8
"""Numbers per answer decoded by their median (a box has four); later ones are decoded greedily."""


def digit_ids(tokenizer: Any) -> list[int]:
    """Token ids of "0".."9"; the tokenizer must write each digit as one token of its own."""
    ids = [tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)]
    if any(i is None or i == tokenizer.unk_token_id for i in ids) or len(set(ids)) != 10:
        raise SystemExit("the tokenizer has no single token per digit: median decoding needs split digits")
    return ids


@torch.inference_mode()
def next_probs(model: torch.nn.Module, seqs: Sequence[Sequence[int]], pixels: torch.Tensor, pad: int) -> torch.Tensor:
    """Next-token probabilities (B, V) after each unpadded sequence (LEFT-padded here, positions from the mask)."""
    from imax.data import pad_batch

    ids = pad_batch(seqs, pad, "left")
    mask = pad_batch([[1] * len(s) for s in seqs], 0, "left")
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, pixel_values=pixels, position_ids=positions, logits_to_keep=1)
    return torch.softmax(out.logits[:, -1].float(), dim=-1)


def run_distribution(
    model: torch.nn.Module, seqs: Sequence[Sequence[int]], pixels: torch.Tensor, pad: int, digits: Sequence[int],
    fractional: Sequence[bool],
) -> np.ndarray:
    """(B, 100) distribution of the value of the digit run that starts after each sequence.

    The first digit's probabilities are renormalised over digits (a run starts here: greedy chose a digit);
    after first digit d the run ends (value d, or 10·d after a decimal point) or goes on with digit e
    (10·d + e).
    """
    first = next_probs(model, seqs, pixels, pad)[:, digits]
    first = first / first.sum(-1, keepdim=True)
    out = torch.zeros(len(seqs), 100)
    for d, token in enumerate(digits):
        after = next_probs(model, [[*s, token] for s in seqs], pixels, pad)
        more = after[:, digits]
        end = (1.0 - more.sum(-1)).clamp(min=0.0)
        out[:, 10 * d : 10 * d + 10] += first[:, d : d + 1] * more
        for row, frac in enumerate(fractional):
            out[row, 10 * d if frac else d] += first[row, d] * end[row]
    out = out / out.sum(-1, keepdim=True)
    return out.numpy()


def median_value(dist: np.ndarray) -> int:
    """Smallest value whose cumulative probability reaches 1/2."""
    return int(np.searchsorted(np.cumsum(dist), 0.5))


def median_decode(
    model: torch.nn.Module, tokenizer: Any, batch: Mapping[str, Any], max_new_tokens: int, digits: Sequence[int],
) -> list[list[int]]:
    """New tokens per row: greedy, except every digit run (up to MAX_RUNS) is written as its median value."""
    from imax.data import pad_batch
    from imax.evaluate.generate import greedy_generate

    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    point = tokenizer.convert_tokens_to_ids(".")
    prompts = [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"], strict=True)]
    pixels = batch["pixel_values"]
    new: list[list[int]] = [[] for _ in prompts]
    live = list(range(len(prompts)))
    for run in range(MAX_RUNS + 1):
        seqs = [prompts[i] + new[i] for i in live]
        budget = max(1, max_new_tokens - min(len(new[i]) for i in live))
        cont = greedy_generate(model, pad_batch(seqs, pad, "left"), pad_batch([[1] * len(s) for s in seqs], 0, "left"),
                               pixels[live], budget, pad, eos)
        at_run = []
        for i, tokens in zip(live, cont, strict=True):
            cut = next((k for k, t in enumerate(tokens) if t in digits), None)
            room = max_new_tokens - len(new[i])
            if cut is None or run == MAX_RUNS or cut >= room:
                new[i] += tokens[:room]
            else:
                new[i] += tokens[:cut]
                at_run.append(i)
        if not at_run:
            break
        frac = [bool(new[i]) and new[i][-1] == point for i in at_run]
        dist = run_distribution(model, [prompts[i] + new[i] for i in at_run], pixels[at_run], pad, digits, frac)
        for i, row, f in zip(at_run, dist, frac, strict=True):
            value = median_value(row)
            text = f"{value:0{RUN_DIGITS}d}" if f else str(value)
            new[i] += [digits[int(c)] for c in text]
        live = at_run
    return new


def score(predictions: list[dict[str, Any]], base_predictions: list[dict[str, Any]], n_boot: int) -> dict[str, Any]:
    """Per task: model − trivial baseline with its paired-bootstrap 95% CI, the baseline's score, distinct answers."""
    from imax.evaluate.controls import control_block
    from imax.evaluate.score import score_tasks
    from imax.tasks import TASKS

    block = control_block([score_tasks(predictions, TASKS)], [score_tasks(base_predictions, TASKS)], n_boot, 0)
    out = {}
    for task, t in block["tasks"].items():
        answers = {p["output"] for p in predictions if p["task"] == task}
        out[task] = {"minus_trivial": t["diff"], "ci": t["diff_ci"], "trivial_score": t["score"],
                     "distinct_answers": len(answers)}
    return out


def _payload(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def template_prior(train: Sequence[Mapping[str, Any]], test: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """VQA predictions of the majority train answer per question template (content type, semantic type)."""
    from imax.tasks import TASKS
    from imax.tasks.baselines import group_majority

    spec = TASKS["vqa"]

    def key(query: Mapping[str, Any]) -> tuple[str, str]:
        return str(query.get("content_type", "")), str(query.get("semantic_type", ""))

    pairs = [(_payload(e["query"]), _payload(e["answer"])) for e in train if e["task"] == "vqa"]
    best = group_majority([key(q) for q, _ in pairs], [tuple(spec.canonical(q, a)["answers"]) for q, a in pairs])
    out = []
    for e in test:
        query = _payload(e["query"])
        answer = best.get(key(query))
        out.append({"id": e["id"], "dicom_id": e["dicom_id"], "task": "vqa", "query": query,
                    "reference": _payload(e["answer"]),
                    "output": "" if answer is None else spec.format_answer(query, {"answers": list(answer)})})
    return out


def one_model(model_dir: Path, data: Path, split: str, tasks: Sequence[str], vqa_priors: bool, batch_size: int,
              n_boot: int, max_samples: int | None) -> dict[str, Any]:
    """Greedy and median-decoded answers of one checkpoint, scored beside the trivial baselines."""
    from imax.data import ModelInterface, PromptCollator, load_entries, read_data_root
    from imax.evaluate.controls import trivial_predictions
    from imax.evaluate.generate import generate_predictions, task_batches
    from imax.evaluate.run import load_for_eval, select_entries
    from imax.model import load_processor, num_image_tokens
    from imax.tasks import TASKS

    model, tokenizer = load_for_eval(model_dir)
    interface = ModelInterface.from_processor(load_processor(model_dir, model), num_image_tokens(model))
    collate = PromptCollator(interface, read_data_root(data), 0)
    train = load_entries(data, "train")
    wanted = tuple(tasks) + (("vqa",) if vqa_priors and "vqa" not in tasks else ())
    entries = select_entries(load_entries(data, split), wanted, max_samples, 0)
    digits = digit_ids(tokenizer)
    t0 = time.perf_counter()
    greedy = generate_predictions(model, tokenizer, entries, collate, TASKS, batch_size)
    greedy_s = time.perf_counter() - t0
    base, _ = trivial_predictions(train, entries, TASKS)
    result: dict[str, Any] = {"model": str(model_dir), "entries": {t: sum(e["task"] == t for e in entries) for t in wanted}}
    numeric = [e for e in entries if e["task"] in tasks]
    median = {p["id"]: p for p in greedy}
    t0 = time.perf_counter()
    for task, idx in task_batches(numeric, batch_size):
        batch = collate([numeric[i] for i in idx])
        for i, ids in zip(idx, median_decode(model, tokenizer, batch, int(TASKS[task].max_new_tokens), digits),
                          strict=True):
            entry = numeric[i]
            median[entry["id"]] = {**median[entry["id"]], "output": tokenizer.decode(ids, skip_special_tokens=True).strip()}
    median_s = time.perf_counter() - t0
    keep = [p for p in greedy if p["task"] in tasks]
    keep_base = [p for p in base if p["task"] in tasks]
    result["greedy"] = score(keep, keep_base, n_boot)
    result["median"] = score([median[p["id"]] for p in keep], keep_base, n_boot)
    result["seconds"] = {"greedy_all_tasks": round(greedy_s, 1), "median_numeric_tasks": round(median_s, 1)}
    if vqa_priors:
        vqa = [p for p in greedy if p["task"] == "vqa"]
        vqa_entries = [e for e in entries if e["task"] == "vqa"]
        result["vqa"] = {
            "vs_question_majority": score(vqa, [p for p in base if p["task"] == "vqa"], n_boot)["vqa"],
            "vs_template_majority": score(vqa, template_prior(train, vqa_entries), n_boot)["vqa"],
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="built dataset (its train split fits the baselines)")
    ap.add_argument("--models", required=True, help="comma-separated checkpoints (e.g. RUN/checkpoints/final)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--tasks", default="calculation,rec", help="tasks whose numbers are median-decoded")
    ap.add_argument("--vqa-priors", action="store_true", help="also score greedy VQA against two text-only priors")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--max-samples", type=int, default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    runs = [one_model(Path(m), args.data, args.split, args.tasks.split(","), args.vqa_priors, args.batch_size,
                      args.bootstrap, args.max_samples) for m in args.models.split(",")]
    out = {"what": __doc__.split("\n\n")[0], "data": str(args.data), "split": args.split, "tasks": args.tasks,
           "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
           "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for r in runs:
        print(r["model"])
        for kind in ("greedy", "median"):
            for task, s in r[kind].items():
                print(f"  {kind:6s} {task:12s} {s['minus_trivial']:+.4f} [{s['ci'][0]:+.4f}, {s['ci'][1]:+.4f}]"
                      f"  distinct {s['distinct_answers']}")
        for prior, s in r.get("vqa", {}).items():
            print(f"  vqa {prior:22s} {s['minus_trivial']:+.4f} [{s['ci'][0]:+.4f}, {s['ci'][1]:+.4f}]")


if __name__ == "__main__":
    main()
