import math

import pytest
import torch

from imax.fisher.spectrum import (
    dominant_ratio,
    fisher_eigenvalues,
    participation_ratio,
    restrict,
    spectral_entropy,
    spectrum_stats,
    task_cosine,
    task_index,
    task_mean_gram,
    topk_ratio,
)


def test_hand_computed_entropy_and_ratios():
    eig = torch.tensor([3.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    # p = [.75, .25]; SE = -(.75 ln .75 + .25 ln .25) = 0.562335...
    assert spectral_entropy(eig) == pytest.approx(0.5623351446, abs=1e-9)
    assert dominant_ratio(eig) == pytest.approx(0.75)
    assert topk_ratio(eig, 1) == pytest.approx(0.75)
    assert topk_ratio(eig, 5) == pytest.approx(1.0)
    assert participation_ratio(eig) == pytest.approx(16 / 10)
    s = spectrum_stats(eig, k=1)
    assert s["trace"] == pytest.approx(4.0)
    assert s["eff_rank"] == pytest.approx(math.exp(0.5623351446))


def test_flat_spectrum_is_maximal_entropy():
    eig = torch.ones(8, dtype=torch.float64)
    assert spectral_entropy(eig) == pytest.approx(math.log(8))
    assert dominant_ratio(eig) == pytest.approx(1 / 8)
    assert participation_ratio(eig) == pytest.approx(8.0)


def test_zero_spectrum_is_defined():
    eig = torch.zeros(4, dtype=torch.float64)
    assert spectral_entropy(eig) == 0.0
    assert math.isnan(dominant_ratio(eig))


def test_gram_route_equals_dense_fisher_on_random_gradients():
    g = torch.Generator().manual_seed(0)
    jac = torch.randn(12, 300, generator=g, dtype=torch.float64) * torch.linspace(
        3, 0.1, 300, dtype=torch.float64
    )
    dense = torch.linalg.eigvalsh(jac.T @ jac / 12).flip(0)[:12]
    gram = fisher_eigenvalues(jac @ jac.T)
    torch.testing.assert_close(gram, dense, rtol=1e-10, atol=0)


def test_rank_deficient_roundoff_is_clipped_to_zero():
    # two identical gradients + one orthogonal: rank 2, the third eigenvalue is 0 up to round-off
    jac = torch.tensor([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    eig = fisher_eigenvalues(jac @ jac.T)
    assert eig.tolist() == pytest.approx([10 / 3, 3.0, 0.0])
    assert (eig >= 0).all() and eig[2] == 0.0


def test_per_task_restriction_and_cosine_on_constructed_gradients():
    # task a: gradients e1, e1 (mean e1); task b: -e1, e2 (mean (-e1+e2)/2); task c: e3
    jac = torch.tensor(
        [[1.0, 0, 0], [1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, 0, 2.0]], dtype=torch.float64
    )
    tasks = ["a", "a", "b", "b", "c"]
    groups = task_index(tasks)
    assert list(groups) == ["a", "b", "c"]
    k = jac @ jac.T
    # F_a = (1/2)(e1e1ᵀ + e1e1ᵀ) = e1e1ᵀ → eigenvalues [1, 0]
    assert fisher_eigenvalues(restrict(k, groups["a"]), n=2).tolist() == pytest.approx([1.0, 0.0])
    # F_b = (1/2)(e1e1ᵀ + e2e2ᵀ) → [.5, .5]
    assert fisher_eigenvalues(restrict(k, groups["b"]), n=2).tolist() == pytest.approx([0.5, 0.5])
    means = task_mean_gram(k, groups)
    assert means[0, 1].item() == pytest.approx(-0.5)  # <e1, (-e1+e2)/2>
    cos = task_cosine(k, groups)
    expected = torch.tensor(
        [[1, -1 / math.sqrt(2), 0], [-1 / math.sqrt(2), 1, 0], [0, 0, 1]], dtype=torch.float64
    )
    torch.testing.assert_close(cos, expected)


def test_cosine_is_nan_for_a_zero_mean_gradient():
    jac = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    cos = task_cosine(jac @ jac.T, task_index(["a", "a", "b"]))
    assert math.isnan(cos[0, 1].item()) and cos[1, 1].item() == pytest.approx(1.0)
