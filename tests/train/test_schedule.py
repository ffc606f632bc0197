import itertools
import math

import numpy as np
import pytest

from imax.train.sampler import StreamSampler, mixture_quota, total_steps
from imax.train.schedule import lr_at, warmup_steps


def test_warmup_then_cosine_values():
    total, lr = 100, 1e-3
    w = warmup_steps(total, 0.1)
    assert w == 10
    assert lr_at(0, lr=lr, total=total, warmup=w) == pytest.approx(1e-4)  # first step already moves
    assert lr_at(4, lr=lr, total=total, warmup=w) == pytest.approx(5e-4)
    assert lr_at(9, lr=lr, total=total, warmup=w) == pytest.approx(lr)
    assert lr_at(10, lr=lr, total=total, warmup=w) == pytest.approx(lr)  # cosine starts at the peak
    mid = 10 + (total - 10 - 1) / 2
    assert lr_at(int(mid), lr=lr, total=total, warmup=w) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * (int(mid) - 10) / 89)) * lr)
    assert lr_at(total - 1, lr=lr, total=total, warmup=w) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(total - 1, lr=lr, total=total, warmup=w, min_lr=1e-5) == pytest.approx(1e-5)
    values = [lr_at(s, lr=lr, total=total, warmup=w) for s in range(w, total)]
    assert all(a >= b for a, b in itertools.pairwise(values))  # monotone decay


def test_total_steps_and_cap():
    assert total_steps(10, epochs=3, batch_size=4, grad_accum=1, max_steps=None) == 8  # ceil(30/4)
    assert total_steps(10, epochs=3, batch_size=2, grad_accum=2, max_steps=5) == 5


def test_sampler_shards_the_same_global_batch_and_mixes_epochs():
    one = StreamSampler(10, seed=3, batch_size=4, grad_accum=2, total_steps=4)
    ranks = [StreamSampler(10, seed=3, batch_size=4, grad_accum=2, total_steps=4, rank=r, world=2) for r in (0, 1)]
    for step in range(4):
        for micro in range(2):
            glob = one.micro_batch(step, micro)
            assert ranks[0].micro_batch(step, micro) + ranks[1].micro_batch(step, micro) == glob
    stream = [i for b in one for i in b]
    assert sorted(stream[:10]) == list(range(10))  # epoch 0 is a permutation: nothing dropped
    assert sorted(stream[10:20]) == list(range(10))
    assert stream[:10] != stream[10:20]  # reshuffled per epoch
    resumed = StreamSampler(10, seed=3, batch_size=4, grad_accum=2, total_steps=4, start_step=2)
    assert [i for b in resumed for i in b] == stream[16:]  # the position is the step
    with pytest.raises(ValueError, match="divisible"):
        StreamSampler(10, seed=0, batch_size=3, total_steps=1, world=2)



def test_length_grouping_sorts_each_megabatch_and_keeps_its_entries():
    from itertools import pairwise

    import numpy as np

    lengths = np.random.default_rng(0).integers(5, 200, size=50)
    kw = {"seed": 3, "batch_size": 4, "grad_accum": 2, "total_steps": 6}
    plain = StreamSampler(50, **kw)
    grouped = StreamSampler(50, **kw, lengths=lengths, group=4)
    a, b = list(plain), list(grouped)
    for m in range(len(a) // 4):  # every 4 micro-batches: the same entries, now in length order
        mega_a, mega_b = a[4 * m : 4 * m + 4], b[4 * m : 4 * m + 4]
        assert sorted(i for x in mega_a for i in x) == sorted(i for x in mega_b for i in x)
        spans = sorted((min(lengths[x]), max(lengths[x])) for x in mega_b)
        assert all(hi <= lo for (_, hi), (lo, _) in pairwise(spans))  # batches don't overlap
    assert b != a and [sorted(x) for x in b] != [sorted(x) for x in a]
    padded = lambda batches: sum(len(x) * max(lengths[x]) for x in batches)  # noqa: E731
    assert padded(b) < 0.8 * padded(a)  # less padding: each batch runs at its own longest entry
    ranks = [StreamSampler(50, **kw, rank=r, world=2, lengths=lengths, group=4) for r in (0, 1)]
    assert [x + y for x, y in zip(*ranks, strict=True)] == b  # ranks split the same global batches
    resumed = StreamSampler(50, **{**kw, "start_step": 3}, lengths=lengths, group=4)
    assert list(resumed) == b[6:]  # still a function of the step alone
    with pytest.raises(ValueError, match="one length per entry"):
        StreamSampler(50, **kw, group=4)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="length group must be >= 1"):
            StreamSampler(50, **kw, lengths=lengths, group=bad)

def test_mixture_quota_follows_the_temperature_and_sums_to_n():
    sizes = np.array([400, 100, 1600])
    assert mixture_quota(sizes, 2100, 1.0).tolist() == [400, 100, 1600]
    # T = 2: shares proportional to sqrt(size) = 20 : 10 : 40
    assert mixture_quota(sizes, 2100, 2.0).tolist() == [600, 300, 1200]
    flat = mixture_quota(sizes, 2100, 1e9)
    assert flat.sum() == 2100 and flat.max() - flat.min() <= 1
    assert mixture_quota(np.array([1, 10_000]), 100, 1.0).tolist() == [1, 99]  # a task never drops to 0


def test_temperature_mixing_draws_tasks_by_quota_and_cycles_every_entry():
    groups = np.repeat([0, 1, 2], [400, 100, 1600])
    kw = {"seed": 3, "batch_size": 30, "total_steps": 70}  # 2100 draws: exactly one epoch
    plain = StreamSampler(len(groups), **kw)
    assert list(StreamSampler(len(groups), **kw, groups=groups, temperature=1.0)) == list(plain)  # T = 1 is bit for bit
    mixed = StreamSampler(len(groups), **kw, groups=groups, temperature=2.0)
    drawn = np.array([i for batch in mixed for i in batch])
    assert np.bincount(groups[drawn]).tolist() == [600, 300, 1200]
    small = drawn[groups[drawn] == 1]  # up-weighted 3x: every entry exactly 3 times
    assert np.bincount(small, minlength=500)[400:500].tolist() == [3] * 100
    big = drawn[groups[drawn] == 2]  # down-weighted: no repeats within the epoch, and the next epochs
    assert len(set(big.tolist())) == 1200  # continue the same stream until every entry has been drawn
    two = StreamSampler(len(groups), **{**kw, "total_steps": 140}, groups=groups, temperature=2.0)
    later = np.array([i for batch in two for i in batch])
    assert set(later[groups[later] == 2].tolist()) == set(range(500, 2100))
    # a resumed sampler continues the same stream
    resumed = StreamSampler(len(groups), **kw, groups=groups, temperature=2.0, start_step=40)
    assert list(resumed) == list(mixed)[40:]


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"temperature": float("nan")},
                                 {"temperature": 2.0, "groups": None}, {"temperature": 2.0, "groups": np.zeros(3)}])
def test_temperature_mixing_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="temperature"):
        StreamSampler(10, seed=0, batch_size=2, total_steps=1, **{"groups": np.zeros(10), **bad})


def test_fisher_steps_never_collapse_named_checkpoints():
    from imax.train.loop import fisher_steps

    assert fisher_steps((0.0, 0.1, 0.5, 1.0), 100) == {0: ["initial"], 10: ["early"], 50: ["mid"], 100: ["late"]}
    # 4 steps: round(0.1 * 4) == 0 would put "early" on "initial"; it moves to the next step instead
    assert fisher_steps((0.0, 0.1, 0.5, 1.0), 4) == {0: ["initial"], 1: ["early"], 2: ["mid"], 4: ["late"]}
    # too short to separate: names share the last step but none is lost
    assert fisher_steps((0.0, 0.1, 0.5, 1.0), 1) == {0: ["initial"], 1: ["early", "mid", "late"]}
    assert fisher_steps((0.25,), 8) == {2: ["f0.25"]}
