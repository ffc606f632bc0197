"""Does a base read the image? Three measurements on a pool phantom's held-out images (issue 15).

A fine-tune can only learn to use the image if the image reaches the language model in a usable form.
This script measures, for one base (default: the cached quick base) on the held-out patients of its
pretraining pool (regenerated from the same seed when ``--pool`` is not given):

1. **caption loss, right vs shuffled image**: token-mean loss of the held-out descriptions with their own
   image and with a neighbour's (a fixed derangement). The gap is what reading the image buys.
2. **attention on the image**: at the description's positions, the share of each head's attention that
   lands on the image tokens, per layer. High share + no loss gap = the image tokens act as a sink.
3. **what the features carry**: of the per-dimension standardised tower features (the projector's input),
   the share of variance that is positional (the mean token at each position over images) vs image-specific.

    .venv/bin/python benchmarks/image_use.py --out benchmarks/results/image_use.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


@torch.no_grad()
def attention_on_image(model: torch.nn.Module, batch: dict[str, Any]) -> list[list[float]]:
    """Per layer, per head: mean share of attention on the image tokens at the labelled positions."""
    language_model = model.model.language_model
    before = language_model.config._attn_implementation
    language_model.config._attn_implementation = "eager"  # only eager attention returns its weights
    try:
        out = model(**batch, output_attentions=True)
    finally:
        language_model.config._attn_implementation = before
    image = (batch["input_ids"] == model.config.image_token_index).float()  # (B, T)
    answer = batch["labels"] != -100  # (B, T)
    shares = []
    for weights in out.attentions:  # (B, H, T, T)
        on_image = (weights * image[:, None, None, :]).sum(-1)  # (B, H, T)
        shares.append([round(float(x), 4) for x in on_image.permute(0, 2, 1)[answer].mean(0)])
    return shares


def feature_variance(features: torch.Tensor) -> dict[str, float]:
    """Shares of the standardised features' (N, n_image, D) variance: positional and image-specific."""
    flat = features.reshape(-1, features.shape[-1]).float()
    z = (features.float() - flat.mean(0)) / flat.std(0).clamp_min(1e-6)
    positional = z.mean(0)  # (n_image, D): the mean token at each position
    return {"positional": float(positional.var(0).mean()),
            "image_specific": float((z - positional[None]).var(0).mean()),
            "image_mean_between_images": float(z.mean(1).var(0).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, default=None, help="base directory (default: the cached quick base)")
    ap.add_argument("--cache", type=Path, default=Path("runs/cache"))
    ap.add_argument("--pool", type=Path, default=None, help="pool phantom (default: regenerate the quick pool)")
    ap.add_argument("--heldout", type=int, default=256, help="held-out pairs measured")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/image_use.json"))
    args = ap.parse_args()
    torch.manual_seed(0)

    from imax.data import ImageSpec
    from imax.model import image_processor_for, load_base
    from imax.schema.config.train import PretrainConfig
    from imax.train.pretrain import cache_key, make_pool, stage_data
    from imax.train.pretrain_stages import (
        caption_batches,
        caption_template,
        heldout_caption_losses,
        tower_features,
    )
    from imax.train.vision import vision_targets

    cfg = PretrainConfig(preset="quick", out=args.cache)
    base = args.base or args.cache / cache_key(cfg)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pool = args.pool or make_pool(cfg, Path(tmp) / "pool")
        data = stage_data(pool, cfg.heldout_fraction, cfg.seed)
        model, tokenizer = load_base(base)
        model.eval()
        size = int(model.config.vision_config.image_size)
        grid = 2 * size // int(model.config.vision_config.patch_size)
        targets = vision_targets(pool, ImageSpec.from_processor(image_processor_for(model)), grid, data["frontals"])
    held = targets.take(np.flatnonzero(data["held"])[: args.heldout])
    texts = data["held_texts"][: args.heldout]
    features = tower_features(model, held.pixels)
    template = caption_template(model, tokenizer)
    losses = heldout_caption_losses(model, template, features, texts, limit=args.heldout)
    first = caption_batches(model, template, features, texts, np.arange(min(32, len(texts))))[0]
    result = {
        "base": str(base), "pool": str(args.pool) if args.pool else f"quick pool, phantom seed {cfg.phantom_seed}",
        "heldout_pairs": len(texts),
        "caption_loss": {**losses, "gap": (losses["shuffled"] - losses["right"])
                         if losses["shuffled"] is not None else None},
        "attention_on_image_tokens": {"image_tokens": int(features.shape[1]),
                                      "per_layer_per_head": attention_on_image(model, first)},
        "feature_variance": feature_variance(features),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
