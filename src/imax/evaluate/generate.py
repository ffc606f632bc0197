"""Batched greedy generation with KV cache and LEFT padding, grouped by task.

Left padding puts every prompt's last token (``[/INST]``) in the last column, so the new tokens of every
row are appended at the same position and one decoding loop serves the whole batch; the attention
mask hides the pads and position ids are derived from it, so a padded row decodes exactly as it would
alone (tests/evaluate/test_generate.py checks this token for token). LLaVA models decode with the lean
loop of :mod:`imax.evaluate.decode` (preallocated KV cache, finished rows dropped); anything it does not
support goes through ``model.generate`` with the same result.

Batches never mix tasks: each uses its task's ``max_new_tokens`` (a report needs 128 tokens, a ratio 8),
and within a task prompts are sorted by length so rows in one batch carry little padding. Greedy
decoding (``do_sample=False``) makes the output deterministic; the returned order is the input order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from imax.schema.records import TASK_NAMES

if TYPE_CHECKING:
    from imax.model.vision_cache import VisionFeatureCache

Collate = Callable[[Sequence[Mapping[str, Any]]], Mapping[str, Any]]
"""entries → {input_ids, attention_mask: long (B, L) left-padded; pixel_values: float (B, C, S, S)}."""


def _ids(value: int | Sequence[int] | None) -> list[int]:
    if value is None:
        return []
    return [int(value)] if isinstance(value, int) else [int(v) for v in value]


@torch.inference_mode()
def greedy_generate(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    pixel_values: torch.Tensor,
    max_new_tokens: int,
    pad_token_id: int,
    eos_token_id: int | Sequence[int],
    image_features: torch.Tensor | None = None,
) -> list[list[int]]:
    """New token ids per row, cut before the first EOS.

    Args:
        input_ids: long (B, L), LEFT-padded prompts (each ends at column L − 1).
        attention_mask: long (B, L), 0 on the pads.
        pixel_values: float (B, C, S, S), one image per row.
        image_features: float (B, n_image, D), the same images' pre-projector vision features, used by
            the lean loop instead of running the tower (``model.generate`` uses ``pixel_values``).
    Returns:
        B lists of generated ids (no prompt, no EOS, no padding).
    """
    if input_ids.shape[0] and bool((attention_mask[:, -1] == 0).any()):
        raise ValueError("prompts must be LEFT-padded: a row has padding in its last column")
    # Imported here: it loads transformers' LLaVA modelling (seconds), which importing this module
    # (pseudo-labelling, likelihood scoring) should not pay before any model exists.
    from imax.evaluate.decode import fast_path_supported, lean_greedy

    if fast_path_supported(model):
        pixels = pixel_values if image_features is None else None
        stops = set(_ids(eos_token_id))
        return lean_greedy(model, input_ids, attention_mask, pixels, max_new_tokens, stops, image_features)
    return hf_greedy_generate(
        model, input_ids, attention_mask, pixel_values, max_new_tokens, pad_token_id, eos_token_id
    )


@torch.inference_mode()
def hf_greedy_generate(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    pixel_values: torch.Tensor,
    max_new_tokens: int,
    pad_token_id: int,
    eos_token_id: int | Sequence[int],
) -> list[list[int]]:
    """:func:`greedy_generate` through plain ``model.generate`` (any generative model; also the
    reference the lean loop is tested and benchmarked against). Same arguments and result."""
    out = model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        pixel_values=pixel_values,
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        use_cache=True,
    )
    stops = set(_ids(eos_token_id))
    rows: list[list[int]] = []
    for seq in out[:, input_ids.shape[1] :].tolist():
        cut = next((i for i, t in enumerate(seq) if t in stops), len(seq))
        rows.append(seq[:cut])
    return rows


def task_batches(entries: Sequence[Mapping[str, Any]], batch_size: int) -> list[tuple[str, list[int]]]:
    """``[(task, entry indices)]``: per task (``TASK_NAMES`` order, then others), prompts sorted by
    instruction length (ties by id), cut into batches of ``batch_size``. Deterministic."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    by_task: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_task.setdefault(str(e["task"]), []).append(i)
    order = [t for t in TASK_NAMES if t in by_task] + sorted(t for t in by_task if t not in TASK_NAMES)
    out: list[tuple[str, list[int]]] = []
    for task in order:
        idx = sorted(
            by_task[task], key=lambda i: (len(str(entries[i].get("instruction", ""))), str(entries[i]["id"]))
        )
        out += [(task, idx[k : k + batch_size]) for k in range(0, len(idx), batch_size)]
    return out


def _payload(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value else value


def encode_images(
    model: torch.nn.Module,
    entries: Sequence[Mapping[str, Any]],
    collate: Collate,
    batch_size: int,
    budget_gb: float,
) -> tuple[VisionFeatureCache | None, str]:
    """Vision features of every distinct image of ``entries``, encoded once: (cache, "") or (None, why
    not). Batches are grouped by task, so an image with prompts for k tasks would otherwise go through
    the vision tower k times (13 on the phantom's IMAX test split). Built only for models the lean loop
    decodes (it takes features in place of pixels), from ``collate.pixels``, within ``budget_gb``."""
    from imax.evaluate.decode import fast_path_supported
    from imax.model.vision_cache import build_vision_cache

    pixels = getattr(collate, "pixels", None)
    if not fast_path_supported(model):
        return None, "the model decodes through model.generate, which takes pixels"
    if pixels is None:
        return None, f"{type(collate).__name__} has no pixels() to load images with"
    device = next(model.parameters()).device
    model.eval()
    return build_vision_cache(
        model, entries, pixels, chunk=batch_size, budget_gb=budget_gb, device=device, require_frozen=False
    )


def generate_predictions(
    model: torch.nn.Module,
    tokenizer: Any,
    entries: Sequence[Mapping[str, Any]],
    collate: Collate,
    tasks: Mapping[str, Any],
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
    vision_cache: VisionFeatureCache | None = None,
) -> list[dict[str, Any]]:
    """Generate an answer for every entry; returns prediction dicts in ``entries`` order.

    Each prediction: ``id, dicom_id, task, prompt`` (the instruction), ``query``, ``reference`` (the
    entry's answer payload), ``output`` (decoded text, special tokens dropped). Parsing and scoring
    happen in :mod:`imax.evaluate.score`. ``progress(done, total)`` is called after every batch.
    ``vision_cache`` (:func:`encode_images`): the entries' image features, used instead of running the
    vision tower in every batch.
    """
    model.eval()
    pad = tokenizer.pad_token_id
    eos = tokenizer.eos_token_id
    outputs: dict[int, str] = {}
    for task, idx in task_batches(entries, batch_size):
        batch = collate([entries[i] for i in idx])
        new = greedy_generate(
            model,
            batch["input_ids"],
            batch["attention_mask"],
            batch["pixel_values"],
            max_new_tokens=int(tasks[task].max_new_tokens),
            pad_token_id=pad,
            eos_token_id=eos,
            image_features=vision_cache.lookup(batch["image"]) if vision_cache is not None else None,
        )
        for i, ids in zip(idx, new, strict=True):
            outputs[i] = tokenizer.decode(ids, skip_special_tokens=True).strip()
        if progress is not None:
            progress(len(outputs), len(entries))
    return [
        {
            "id": e["id"],
            "dicom_id": e["dicom_id"],
            "task": e["task"],
            "prompt": e.get("instruction", ""),
            "query": _payload(e.get("query")),
            "reference": _payload(e.get("answer")),
            "output": outputs[i],
        }
        for i, e in enumerate(entries)
    ]
