"""Per-sample gradients of the selected parameters, and their Gram matrix ``K = J Jᵀ``.

Each sample's loss is its own answer-token mean cross-entropy (labels ``-100`` are masked, HF shift
convention: ``labels[t]`` is predicted from position ``t-1``). Two routes compute the same gradients:

``vmap``  ``torch.func.vmap(grad(loss))`` over the samples of a chunk. LLaVA's own forward is not
          vmappable (its image-token check reads a tensor as a Python number and ``masked_scatter``
          has a data-dependent shape), so this route re-composes the forward from the model's parts:
          the frozen vision tower runs once per batch outside ``vmap`` (no grad), then per sample
          projector → image features gathered into the token embeddings at fixed index positions →
          language model → ``lm_head``. Needs right-padded batches (it drops the attention mask: with
          causal attention, real tokens never attend to trailing pads, so their losses are unchanged).
``loop``  one ordinary forward/backward per sample through the model's own ``forward`` — slow but
          makes no assumptions; also the reference the ``vmap`` route is tested against.

``auto`` uses ``loop`` for the whole run when the vmap route's preconditions fail (a batch not
right-padded, a vision-tower parameter selected), else tries ``vmap`` on one sample and falls back to
``loop`` if that raises; the route actually used is reported.

Memory: ``J`` (N × P fp32) is never needed whole — :func:`gradient_gram` splits the parameters into
groups so that one group's ``N × P_g`` block fits ``max_jacobian_mb`` and accumulates ``K = Σ_g J_g J_gᵀ``
in float64 (each group costs one more pass over the probe set: compute traded for memory).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from imax.model.compose import llava_core, vision_features

log = logging.getLogger(__name__)

Method = Literal["auto", "vmap", "loop"]
_SLAB = 16384  # columns of J cast to float64 at once
Batch = Mapping[str, Any]


def select_params(model: nn.Module, pattern: str | None = None) -> dict[str, Tensor]:
    """Parameters the Fisher is taken over, by name (``model.named_parameters()`` order).

    ``pattern=None`` picks the trainable ones (``requires_grad``: LoRA + projector for imax's PEFT
    model); otherwise every parameter whose name ``re.search``-matches ``pattern``. Raises when empty.
    """
    if pattern is None:
        out = {n: p for n, p in model.named_parameters() if p.requires_grad}
    else:
        rx = re.compile(pattern)
        out = {n: p for n, p in model.named_parameters() if rx.search(n)}
    if not out:
        raise ValueError(f"no parameters selected (pattern={pattern!r}); nothing to take a Fisher over")
    return out


def _answer_mean_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean CE over answer tokens of one sequence. logits (T, V), labels (T,) → scalar (vmappable)."""
    tgt = labels[1:]
    keep = tgt != -100
    # clamp the ignored targets to a valid index; their terms are zeroed by ``keep`` anyway
    ce = nn.functional.cross_entropy(logits[:-1], tgt.clamp(min=0), reduction="none")
    return (ce * keep).sum() / keep.sum().clamp(min=1)


class _SplitForward(nn.Module):
    """LLaVA forward from its parts, per sample, with image features gathered at given positions.

    Registered around the user's model so ``functional_call`` can swap parameters by the model's own
    names (prefixed ``model.``); holds no parameters of its own.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.core = [llava_core(model)]  # a list keeps it out of the module tree (no double names)

    def forward(
        self, ids: Tensor, labels: Tensor, feats: Tensor | None, src: Tensor, is_img: Tensor
    ) -> Tensor:
        """ids, labels, src (T,) long; is_img (T,) bool; feats (n_img, D_vision) or None → loss."""
        core = self.core[0]
        emb = core.get_input_embeddings()(ids)  # (T, H)
        if feats is not None:
            img = core.model.multi_modal_projector(feats[None])[0]  # (n_img, H)
            emb = torch.where(is_img[:, None], img[src], emb)
        hidden = core.model.language_model(inputs_embeds=emb[None]).last_hidden_state
        return _answer_mean_loss(core.lm_head(hidden)[0], labels)


def _image_index(ids: Tensor, image_token: int, n_img: int) -> tuple[Tensor, Tensor]:
    """Per-sample gather map for image features. ids (B, T) → src (B, T) long, is_img (B, T) bool.

    ``src[b, t]`` is the image-feature row placed at token ``t`` (0 where not an image token).
    Raises if a sample's ``<image>`` count differs from the feature count (LLaVA's own check).
    """
    is_img = ids == image_token
    counts = is_img.sum(1)
    if not bool((counts == n_img).all()):
        raise ValueError(f"image tokens per sample {counts.tolist()} != image features per image {n_img}")
    src = (is_img.cumsum(1) - 1).clamp(min=0) * is_img
    return src, is_img


def _right_padded(mask: Tensor | None) -> bool:
    """True when every row of ``mask`` is 1…1 0…0 (non-increasing), or there is no mask."""
    if mask is None:
        return True
    m = mask.to(torch.int64)
    return not bool((m[:, 1:] > m[:, :-1]).any())


def _check_right_padded(mask: Tensor | None) -> None:
    if not _right_padded(mask):
        raise ValueError("vmap route needs right-padded batches (attention_mask 1…1 0…0)")


def _grads_vmap(model: nn.Module, batch: Batch, names: Sequence[str], chunk_size: int) -> Tensor:
    core = llava_core(model)
    if core is None:
        raise TypeError(f"vmap route supports LLaVA models only, got {type(model).__name__}")
    ids, labels = batch["input_ids"], batch["labels"]
    _check_right_padded(batch.get("attention_mask"))
    own = dict(model.named_parameters())
    sel = {"model." + n: own[n].detach() for n in names}
    wrapper = _SplitForward(model)
    vision_names = [n for n in names if ".vision_tower." in n]
    if vision_names:
        raise ValueError(f"vmap route precomputes the frozen vision tower; selected {vision_names[:3]}...")
    pix = batch.get("pixel_values")
    with torch.no_grad():
        feats = vision_features(core, pix) if pix is not None else None
    if feats is not None:
        src, is_img = _image_index(ids, core.config.image_token_id, feats.shape[1])
    else:
        src, is_img = torch.zeros_like(ids), torch.zeros_like(ids, dtype=torch.bool)

    def loss(p: dict[str, Tensor], i: Tensor, lab: Tensor, f: Tensor | None, s: Tensor, m: Tensor) -> Tensor:
        return functional_call(wrapper, p, (i, lab, f, s, m), strict=False)

    f_dim = 0 if feats is not None else None
    per = vmap(grad(loss), in_dims=(None, 0, 0, f_dim, 0, 0), chunk_size=chunk_size)
    with warnings.catch_warnings():
        # SDPA has no vmap batching rule on the CPU and runs per sample; measured no slower than eager
        # attention at imax's sizes, so the "performance drop" notice is noise here
        warnings.filterwarnings("ignore", message="There is a performance drop")
        g = per(sel, ids, labels, feats, src, is_img)
    return torch.cat([g["model." + n].reshape(ids.shape[0], -1) for n in names], dim=1)


def _grads_loop(model: nn.Module, batch: Batch, names: Sequence[str]) -> Tensor:
    own = dict(model.named_parameters())
    params = [own[n] for n in names]
    flags = [p.requires_grad for p in params]
    rows = []
    try:
        for p in params:
            p.requires_grad_(True)
        for i in range(batch["input_ids"].shape[0]):
            kw = {"input_ids": batch["input_ids"][i : i + 1], "labels": batch["labels"][i : i + 1]}
            for key in ("attention_mask", "pixel_values"):
                if batch.get(key) is not None:
                    kw[key] = batch[key][i : i + 1]
            loss = model(**kw).loss
            gs = torch.autograd.grad(loss, params, allow_unused=True)
            rows.append(
                torch.cat(
                    [
                        (torch.zeros_like(p) if g is None else g).reshape(-1)
                        for g, p in zip(gs, params, strict=True)
                    ]
                )
            )
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)
    return torch.stack(rows)


def per_sample_grads(
    model: nn.Module,
    batch: Batch,
    names: Sequence[str],
    method: Literal["vmap", "loop"] = "vmap",
    chunk_size: int = 32,
) -> Tensor:
    """Gradients of each sample's answer-mean loss w.r.t. the named parameters.

    batch: collated dict (``input_ids`` (B, T), ``labels`` (B, T), optional ``attention_mask`` (B, T),
    ``pixel_values`` (B, C, S, S)). Returns J (B, P) float32, columns in ``names`` order, each
    parameter flattened. Runs in eval mode (dropout off) and restores the mode.
    """
    n_answer = (batch["labels"][:, 1:] != -100).sum(1)
    if bool((n_answer == 0).any()):
        bad = [
            batch["id"][i] if "id" in batch else i for i in torch.nonzero(n_answer == 0).flatten().tolist()
        ]
        raise ValueError(f"samples with no answer tokens (all labels masked): {bad}")
    was_training = model.training
    model.eval()
    try:
        if method == "vmap":
            return _grads_vmap(model, batch, names, chunk_size)
        if method == "loop":
            return _grads_loop(model, batch, names)
        raise ValueError(f"unknown per-sample gradient method {method!r}")
    finally:
        model.train(was_training)


def _param_groups(model: nn.Module, names: Sequence[str], n_samples: int, max_mb: float) -> list[list[str]]:
    """Split ``names`` into consecutive groups whose N × P_g fp32 block fits ``max_mb`` (≥ 1 tensor each)."""
    own = dict(model.named_parameters())
    budget = max_mb * 2**20 / (4 * n_samples)  # parameters per group
    groups: list[list[str]] = [[]]
    size = 0
    for n in names:
        k = own[n].numel()
        if groups[-1] and size + k > budget:
            groups.append([])
            size = 0
        groups[-1].append(n)
        size += k
    return groups


@dataclass
class GramResult:
    """``kernel`` = J Jᵀ (N × N float64, not divided by N); one row per sample, in batch order."""

    kernel: Tensor
    tasks: list[str]
    ids: list[str]
    n_params: int
    method: str
    param_groups: int


def gradient_gram(
    model: nn.Module,
    batches: Sequence[Batch],
    pattern: str | None = None,
    method: Method = "auto",
    chunk_size: int = 32,
    max_jacobian_mb: float = 1024.0,
) -> GramResult:
    """K = J Jᵀ over all samples of ``batches`` without materialising anything P × P.

    batches: collated dicts (see :func:`per_sample_grads`), plus ``task`` / ``id`` lists. The batches are
    traversed once per parameter group (one group unless N·P·4 bytes > ``max_jacobian_mb``).
    """
    names = list(select_params(model, pattern))
    own = dict(model.named_parameters())
    n = sum(int(b["input_ids"].shape[0]) for b in batches)
    if n == 0:
        raise ValueError("empty probe set")
    groups = _param_groups(model, names, n, max_jacobian_mb)
    route = "vmap" if method == "auto" else method
    vision = any(".vision_tower." in x for x in names)
    if method == "auto" and (vision or not all(_right_padded(b.get("attention_mask")) for b in batches)):
        route = "loop"
    elif method == "auto":
        try:
            per_sample_grads(model, _head(batches[0], 1), names[:1], "vmap", chunk_size)
        except Exception as exc:
            log.info(
                "vmap per-sample grads failed (%s: %s); using the per-sample loop", type(exc).__name__, exc
            )
            route = "loop"
    kernel = torch.zeros(n, n, dtype=torch.float64)
    for group in groups:
        jac = torch.cat([per_sample_grads(model, b, group, route, chunk_size) for b in batches])
        # float64 products (sums over up to ~1e6 terms lose digits in fp32), cast a column slab at a time
        # so the float64 copy stays small next to the fp32 block
        for c in range(0, jac.shape[1], _SLAB):
            slab = jac[:, c : c + _SLAB].double()
            kernel += slab @ slab.T
        del jac
    tasks = [str(t) for b in batches for t in b.get("task", ["all"] * int(b["input_ids"].shape[0]))]
    ids = [str(i) for b in batches for i in b.get("id", [""] * int(b["input_ids"].shape[0]))]
    return GramResult(kernel, tasks, ids, sum(own[x].numel() for x in names), route, len(groups))


def _head(batch: Batch, k: int) -> dict[str, Any]:
    """First ``k`` samples of a collated batch."""
    return {key: v[:k] for key, v in batch.items()}
