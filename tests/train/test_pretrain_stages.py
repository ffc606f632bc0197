"""The pretraining stages' image plumbing: ``fit_projector_to_features`` (a data-dependent projector init
that makes images tell apart after the language model's RMSNorm, whatever constant offset and scale the
from-scratch tower's features carry) and ``heldout_caption_losses`` (right vs deranged image pairing)."""

from __future__ import annotations

import torch

from imax.model import build_model, train_tokenizer
from imax.schema.config.model import ModelConfig
from imax.train.pretrain_stages import fit_projector_to_features


def _relative_spread(x: torch.Tensor) -> float:
    """Spread across images of each token position, relative to the tokens' norm (RMSNorm divides by it)."""
    return float(x.std(dim=0).norm(dim=-1).mean() / x.norm(dim=-1).mean())


def test_fit_projector_standardises_offset_features_and_matches_the_text_norm():
    tok = train_tokenizer(["a chest film of a man with a large heart"] * 4, [], 300)
    model = build_model(ModelConfig.tiny(), tok)
    g = torch.Generator().manual_seed(0)
    n, t, d = 64, 4, model.config.vision_config.hidden_size
    # features like a from-scratch tower's: one big shared component, small image-dependent part
    features = 40.0 * torch.ones(d) + 0.2 * torch.randn(n, t, d, generator=g)
    proj = model.model.multi_modal_projector
    with torch.no_grad():
        before = _relative_spread(proj(features))
        stats = fit_projector_to_features(model, features, text_norm=0.4)
        after_out = proj(features)
    assert before < 0.05  # the offset drowns the images
    assert _relative_spread(after_out) > 5 * before
    assert abs(float(after_out[:64].norm(dim=-1).mean()) - 0.4) < 1e-3
    assert abs(stats["feature_norm"] - float(features.norm(dim=-1).mean())) < 1e-3


def test_heldout_caption_losses_pairs_right_and_deranged_images():
    """The shuffled loss pairs each description with its neighbour's image: with two image kinds and the
    descriptions saying which, a model trained on the pairs scores lower with the right image."""
    from dataclasses import replace

    import numpy as np

    from imax.schema.config.train import PretrainConfig
    from imax.train.pretrain_stages import caption_stage, caption_template, heldout_caption_losses

    texts = ["a large heart", "a small heart"] * 32
    tok = train_tokenizer(texts, [], 300)
    model = build_model(ModelConfig.tiny(), tok)
    g = torch.Generator().manual_seed(0)
    d = model.config.vision_config.hidden_size
    from imax.model import num_image_tokens

    n_image = num_image_tokens(model)
    kind = torch.tensor([1.0, -1.0]).repeat(32)  # image i is "large" when kind +1
    features = kind[:, None, None] * torch.ones(1, n_image, d) + 0.1 * torch.randn(64, n_image, d, generator=g)
    template = caption_template(model, tok)
    untrained = heldout_caption_losses(model, template, features, texts, limit=16)
    assert set(untrained) == {"right", "shuffled"} and untrained["right"] > 0
    # neighbours alternate in kind, so the derangement (roll by 1) always shows the wrong kind
    cfg = replace(PretrainConfig(preset="smoke"), batch_size=16, caption_lr=3e-3, warmup_ratio=0.0)
    torch.manual_seed(0)
    caption_stage(model, tok, features, texts, features[:16], texts[:16], cfg, 30.0, None)
    trained = heldout_caption_losses(model, template, features, texts, limit=16)
    assert trained["shuffled"] > trained["right"] + 0.1, trained
    one = heldout_caption_losses(model, template, features[:1], texts[:1])
    assert one["shuffled"] is None and np.isfinite(one["right"])
