"""Optional per-label likelihood scores for multilabel mAP / AUROC (``EvalConfig.label_scores``).

Generated label *sets* give F1 but no ranking. For ranking metrics each candidate label of the entry's
label space is scored by the model's log-likelihood of answering with that label alone,
log p(format_answer({labels: [c]}) | image, prompt), summed over the answer tokens. One teacher-forced
forward per candidate and batch: slow (14 or 26 forwards), hence opt-in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from imax.evaluate.generate import Collate


@torch.inference_mode()
def candidate_logliks(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    pixel_values: torch.Tensor,
    candidates: Sequence[Sequence[int]],
) -> np.ndarray:
    """Summed log-probabilities (B, C) of each candidate continuation after each LEFT-padded prompt.

    ``input_ids``/``attention_mask`` long (B, L); ``pixel_values`` float (B, C_img, S, S);
    ``candidates``: C token-id lists appended after every prompt.
    """
    b = input_ids.shape[0]
    out = np.zeros((b, len(candidates)))
    for c, cand in enumerate(candidates):
        cand_t = torch.tensor(list(cand), dtype=torch.long).expand(b, -1)
        ids = torch.cat([input_ids, cand_t], dim=1)
        mask = torch.cat([attention_mask, torch.ones_like(cand_t)], dim=1)
        logits = model(input_ids=ids, attention_mask=mask, pixel_values=pixel_values).logits
        # Token t of the candidate is predicted at position L + t − 1.
        L = input_ids.shape[1]
        logp = torch.log_softmax(logits[:, L - 1 : L - 1 + len(cand)].float(), dim=-1)
        out[:, c] = logp.gather(-1, cand_t.unsqueeze(-1)).squeeze(-1).sum(-1).numpy()
    return out


def label_score_matrix(
    model: torch.nn.Module,
    tokenizer: Any,
    entries: Sequence[Mapping[str, Any]],
    collate: Collate,
    spec: Any,
    classes: Sequence[str],
    query: Mapping[str, Any],
    batch_size: int = 32,
) -> np.ndarray:
    """(N, C) log-likelihood of each class in ``classes`` for entries that share one label-space ``query``."""
    cands = [
        tokenizer.encode(spec.format_answer(query, {"labels": [c]}), add_special_tokens=False)
        for c in classes
    ]
    rows = []
    for k in range(0, len(entries), batch_size):
        batch = collate(list(entries[k : k + batch_size]))
        rows.append(
            candidate_logliks(
                model, batch["input_ids"], batch["attention_mask"], batch["pixel_values"], cands
            )
        )
    return np.concatenate(rows) if rows else np.zeros((0, len(classes)))
