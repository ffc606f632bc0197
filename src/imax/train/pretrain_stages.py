"""The tiny base's text stages (2-4 of :mod:`imax.train.pretrain`): one shared seeded loop (AdamW, linear
warm-up + cosine decay, clipping) over plain text (language model), or over (image, description) pairs in
the model's chat template (projector alone, then projector and language model), on frozen-tower features
computed once."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from imax.schema.config.train import PretrainConfig


def _steps(epochs: float, n: int, batch: int, cap: int | None) -> int:
    steps = max(1, math.ceil(epochs * n / batch))
    return min(steps, cap) if cap else steps


def _optimizer(params: list[torch.nn.Parameter], lr: float, wd: float, steps: int, warmup: float
               ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    warm = max(1, round(warmup * steps))

    def factor(step: int) -> float:  # linear warm-up, cosine decay to 0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _text_batch(tokenizer: Any, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """Plain language-model batch: ``<s> text </s>``, right-padded, labels on every real token."""
    from imax.data import IGNORE_INDEX, pad_batch

    ids = [[*[tokenizer.bos_token_id, *tokenizer.encode(t, add_special_tokens=False)][: max_length - 1],
            tokenizer.eos_token_id] for t in texts]
    return {"input_ids": pad_batch(ids, tokenizer.pad_token_id, "right"),
            "attention_mask": pad_batch([[1] * len(s) for s in ids], 0, "right"),
            "labels": pad_batch(ids, IGNORE_INDEX, "right")}


def _caption_batch(template: Any, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
    """Alignment batch in the model's own chat template (:class:`imax.data.ChatTemplate`): the user turn
    is the image alone (no instruction), the assistant turn the description (the only labelled tokens)."""
    from imax.data import IGNORE_INDEX, IMAGE_PLACEHOLDER, Message, pad_batch, tokenize_messages

    pairs = [tokenize_messages([Message("user", IMAGE_PLACEHOLDER, masked=True),
                                Message("assistant", t, masked=False)], template, max_length)
             for t in texts]
    ids = [p[0] for p in pairs]
    return {"input_ids": pad_batch(ids, template.tokenizer.pad_token_id, "right"),
            "attention_mask": pad_batch([[1] * len(s) for s in ids], 0, "right"),
            "labels": pad_batch([p[1] for p in pairs], IGNORE_INDEX, "right")}


@torch.no_grad()
def _mean_loss(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> float:
    """Token-mean loss over ``batches`` (each with ``labels``; optional ``pixel_values``)."""
    model.eval()
    total, count = 0.0, 0
    for b in batches:
        n = int((b["labels"][:, 1:] != -100).sum())
        total += float(model(**b).loss) * n
        count += n
    return total / max(1, count)


def _run(model: torch.nn.Module, params: list[torch.nn.Parameter], make_batch: Any, n: int, cfg: PretrainConfig,
         epochs: float, lr: float, cap: int | None, seed: int) -> list[float]:
    """Shared loop of the language and alignment stages: seeded permutations, AdamW + cosine, clipping;
    returns the mean loss of each tenth of the run ([] for ``epochs`` <= 0: the stage is skipped)."""
    if epochs <= 0:
        return []
    steps = _steps(epochs, n, cfg.batch_size, cap)
    opt, sched = _optimizer(params, lr, cfg.weight_decay, steps, cfg.warmup_ratio)
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(n, generator=gen), 0
    model.train()
    losses: list[float] = []
    chunk = max(1, steps // 10)
    running = 0.0
    for step in range(steps):
        if pos + cfg.batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + cfg.batch_size].tolist()
        pos += cfg.batch_size
        loss = model(**make_batch(idx)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if (step + 1) % chunk == 0 or step == steps - 1:
            losses.append(round(running / ((step % chunk) + 1), 4))
            running = 0.0
    model.eval()
    return losses


def _only_trainable(model: torch.nn.Module, module: torch.nn.Module) -> list[torch.nn.Parameter]:
    model.requires_grad_(False)
    module.requires_grad_(True)
    return [p for p in module.parameters() if p.requires_grad]


def language_stage(model: torch.nn.Module, tokenizer: Any, train: list[str], held: list[str], cfg: PretrainConfig,
                   epochs: float, cap: int | None) -> dict[str, Any]:
    """Stage 2: the language model (embeddings, decoder, head) on plain text: ``train`` holds the pool's
    descriptions and the general-language passages (:mod:`imax.train.general_text`); ``held`` is held-out
    descriptions (its perplexity before/after is reported)."""
    lm = torch.nn.ModuleList([model.model.language_model, model.lm_head])
    params = _only_trainable(model, lm)
    max_len = int(model.config.text_config.max_position_embeddings)
    held_batches = [_text_batch(tokenizer, held[i : i + 32], max_len) for i in range(0, min(len(held), 256), 32)]
    before = _mean_loss(model, held_batches) if held_batches else None
    losses = _run(model, params, lambda idx: _text_batch(tokenizer, [train[i] for i in idx], max_len), len(train),
                  cfg, epochs, cfg.lm_lr, cap, cfg.seed + 1)
    after = _mean_loss(model, held_batches) if held_batches else None
    return {"losses": losses, "heldout_perplexity_before": math.exp(before) if before is not None else None,
            "heldout_perplexity_after": math.exp(after) if after is not None else None}


@torch.no_grad()
def tower_features(model: torch.nn.Module, pixels: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """(N, n_image, D) frozen-tower features of ``pixels`` (N, C, S, S), computed once: the tower does not
    train in the alignment and caption stages, so encoding each image every epoch would repeat work."""
    from imax.model.compose import vision_features

    model.eval()
    return torch.cat([vision_features(model, pixels[i : i + batch]) for i in range(0, len(pixels), batch)])


@torch.no_grad()
def fit_projector_to_features(model: torch.nn.Module, features: torch.Tensor, text_norm: float) -> dict[str, float]:
    """Data-dependent init of the projector before alignment (the architecture is LLaVA's, unchanged).

    A tower trained from scratch emits last-layer features dominated by one large shared component: on the
    quick base, token norms of ~40 that vary between images by well under 1 %. Projected as they are, every
    image looks the same to the language model after its RMSNorm, and alignment cannot fix that in a few
    hundred steps (measured: held-out caption loss 0.302 with the right image vs 0.305 with another's).
    This folds a per-dimension standardisation of ``features`` (N, n_image, D) (mean and std over every
    token of every image) into ``linear_1``, and scales ``linear_2`` so projected tokens start at the
    language model's typical input-embedding norm ``text_norm``. Returns the statistics it used."""
    proj = model.model.multi_modal_projector
    flat = features.reshape(-1, features.shape[-1]).float()
    mean, std = flat.mean(0), flat.std(0).clamp_min(1e-6)
    before = float(flat.norm(dim=-1).mean())
    w = proj.linear_1.weight / std  # (H, D): x ↦ W (x − μ)/σ + b
    proj.linear_1.bias -= w @ mean
    proj.linear_1.weight.copy_(w)
    out = proj(features[: min(64, len(features))].to(proj.linear_1.weight.dtype))
    scale = text_norm / float(out.norm(dim=-1).mean().clamp_min(1e-6))
    proj.linear_2.weight.mul_(scale)
    proj.linear_2.bias.mul_(scale)
    return {"feature_norm": before, "feature_std_mean": float(std.mean()), "output_scale": scale,
            "text_embedding_norm": text_norm}


def caption_template(model: torch.nn.Module, tokenizer: Any) -> Any:
    """The chat template the base is saved with (``save_base`` writes this processor beside it)."""
    from imax.data import ModelInterface
    from imax.model import make_processor, num_image_tokens

    return ModelInterface.from_processor(make_processor(model, tokenizer), num_image_tokens(model)).template


def caption_batch(model: torch.nn.Module, template: Any, texts: list[str], features: torch.Tensor) -> dict[str, Any]:
    """One caption batch: ``texts[i]`` with image features ``features[i]`` (B, n_image, D), projected in the
    graph (:func:`imax.model.compose.image_inputs`)."""
    from imax.model.compose import image_inputs

    max_len = int(model.config.text_config.max_position_embeddings)
    return {**_caption_batch(template, texts, max_len), **image_inputs(model, features)}


def caption_batches(model: torch.nn.Module, template: Any, features: torch.Tensor, texts: list[str],
                    order: np.ndarray, batch: int = 32) -> list[dict[str, Any]]:
    """Caption batches of ``texts`` with image ``order[i]``'s ``features`` (N, n_image, D) beside text i:
    the identity order pairs each description with its image, a derangement with another's."""
    n = len(order)  # text i (i < n) with image order[i]
    return [caption_batch(model, template, texts[i : min(i + batch, n)], features[order[i : i + batch]])
            for i in range(0, n, batch)]


def heldout_caption_losses(model: torch.nn.Module, template: Any, features: torch.Tensor, texts: list[str],
                           limit: int = 256, shuffled: bool = True) -> dict[str, float | None]:
    """Token-mean caption loss of the first ``limit`` held-out (image, description) pairs with the right
    image, and (``shuffled``) with each image swapped for its neighbour's (a fixed derangement): the gap
    between the two is how much the model reads the image."""
    k = min(len(texts), limit)
    if k == 0:
        return {"right": None, "shuffled": None}
    right = _mean_loss(model, caption_batches(model, template, features, texts, np.arange(k)))
    wrong = (_mean_loss(model, caption_batches(model, template, features, texts, np.roll(np.arange(k), 1)))
             if shuffled and k > 1 else None)
    return {"right": right, "shuffled": wrong}


def _pairs_stage(model: torch.nn.Module, tokenizer: Any, features: torch.Tensor, train: list[str],
                 held_features: torch.Tensor, held: list[str], cfg: PretrainConfig, epochs: float, lr: float,
                 cap: int | None, seed: int, params: list[torch.nn.Parameter]) -> dict[str, Any]:
    """Train ``params`` on (image, description) pairs in the model's chat template; report held-out caption
    loss before/after and with each held-out image swapped for another's (:func:`heldout_caption_losses`)."""
    template = caption_template(model, tokenizer)

    def batch(idx: list[int]) -> dict[str, Any]:
        return caption_batch(model, template, [train[i] for i in idx], features[idx])

    before = heldout_caption_losses(model, template, held_features, held, shuffled=False)["right"]
    losses = _run(model, params, batch, len(train), cfg, epochs, lr, cap, seed)
    after = heldout_caption_losses(model, template, held_features, held)
    model.requires_grad_(False)
    return {"losses": losses, "heldout_caption_loss_before": before, "heldout_caption_loss_after": after["right"],
            "heldout_caption_loss_shuffled_images": after["shuffled"]}


def align_stage(model: torch.nn.Module, tokenizer: Any, features: torch.Tensor, train: list[str],
                held_features: torch.Tensor, held: list[str], cfg: PretrainConfig, epochs: float,
                cap: int | None) -> dict[str, Any]:
    """Stage 3 (LLaVA's first stage): the projector alone on (image, description) pairs, tower and language
    model frozen, from :func:`fit_projector_to_features`. ``features``: :func:`tower_features` of the
    pairs' images."""
    text_norm = float(model.get_input_embeddings().weight.detach().norm(dim=-1).mean())
    init = fit_projector_to_features(model, features, text_norm)
    params = _only_trainable(model, model.model.multi_modal_projector)
    stage = _pairs_stage(model, tokenizer, features, train, held_features, held, cfg, epochs, cfg.align_lr, cap,
                         cfg.seed + 2, params)
    return {"projector_init": init, **stage}


def caption_stage(model: torch.nn.Module, tokenizer: Any, features: torch.Tensor, train: list[str],
                  held_features: torch.Tensor, held: list[str], cfg: PretrainConfig, epochs: float,
                  cap: int | None) -> dict[str, Any]:
    """Stage 4 (LLaVA's second stage, with descriptions instead of instructions): projector and language
    model together on the same (image, description) pairs, tower frozen.

    Meant to teach a language model that never had an image in its context to read one, the skill a
    general chat MLLM brings to the study; the text is still only the descriptions, never a task. At the
    default lr (5e-4) for 2 epochs it taught an earlier quick base no image use (held-out caption loss 0.304
    with the right image, 0.307 with another's); at lr 2e-3 for 4 epochs it does (0.274 vs 0.332 on the current
    quick base, whose alignment stage alone gives 0.338 vs 0.339), yet the fine-tunes from that base fell
    on the val criterion (-0.022 vs +0.032; benchmarks/results/recipe-caption.json) and the stage costs
    ~320 s of the base's 10 minutes, so the quick preset skips it (``caption_epochs`` 0); the held-out
    losses it reports say whether another pool, length or rate does better."""
    lm = torch.nn.ModuleList([model.model.multi_modal_projector, model.model.language_model, model.lm_head])
    params = _only_trainable(model, lm)
    return _pairs_stage(model, tokenizer, features, train, held_features, held, cfg, epochs, cfg.caption_lr, cap,
                        cfg.seed + 3, params)
