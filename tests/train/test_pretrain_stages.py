"""``fit_projector_to_features``: a data-dependent projector init that makes images tell apart after the
language model's RMSNorm, whatever constant offset and scale the from-scratch tower's features carry."""

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
