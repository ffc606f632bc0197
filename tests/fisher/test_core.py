import json
import math

import numpy as np
import pytest

from imax.fisher import fisher_spectrum, spectrum_at
from imax.schema.config.fisher import FisherConfig

from .conftest import random_batch


def test_fisher_spectrum_summaries_and_per_task(model):
    batches = [random_batch(8, seed=10, tasks=("calculation", "vqa", "report"))]
    res = fisher_spectrum(model, batches, k=3)
    assert res.eigenvalues.shape == (8,) and np.all(np.diff(res.eigenvalues) <= 0)
    p = res.eigenvalues[res.eigenvalues > 0] / res.eigenvalues.sum()
    assert res.se == pytest.approx(float(-(p * np.log(p)).sum()))
    assert res.rho == pytest.approx(res.eigenvalues[0] / res.eigenvalues.sum())
    assert res.eff_rank == pytest.approx(math.exp(res.se))
    assert res.tasks == ["calculation", "report", "vqa"]  # imax task order
    assert {t: d["n"] for t, d in res.per_task.items()} == {"calculation": 3, "report": 2, "vqa": 3}
    # trace is additive: N·tr F = Σ_a n_a·tr F_a
    assert 8 * res.trace == pytest.approx(sum(d["n"] * d["trace"] for d in res.per_task.values()))
    assert np.allclose(np.diag(res.task_cosine), 1.0)
    blob = json.loads(json.dumps(res.to_json()))
    assert blob["task_cosine"]["tasks"] == res.tasks and len(blob["eigenvalues"]) == 8


def test_entries_need_a_collator_and_spectrum_at_returns_json(model):
    with pytest.raises(ValueError, match="collate"):
        fisher_spectrum(model, [{"id": "x", "task": "vqa"}])
    mode = model.training
    out = spectrum_at(model, [random_batch(4, seed=11)], FisherConfig(k=2))
    assert out["k"] == 2 and out["method"] == "vmap" and len(out["eigenvalues"]) == 4
    assert model.training is mode
