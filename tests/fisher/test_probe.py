from collections import Counter

import pytest

from imax.fisher.probe import collate_probe, probe_set, stratified_quota


def _entries():
    sizes = {"calculation": 50, "report": 50, "vqa": 5, "rec": 40}
    rows = []
    for split in ("train", "val", "test"):
        for task, k in sizes.items():
            rows += [{"id": f"{split}-{task}-{i:03d}", "task": task, "split": split} for i in range(k)]
    return rows


def test_quota_is_equal_and_water_fills_small_tasks():
    q = stratified_quota({"a": 50, "b": 50, "c": 5, "d": 40}, 64)
    # 64/4 = 16 each, c has only 5 → its 11 spare slots go to the others (a, b get 20 and d 19, or so)
    assert (
        q["c"] == 5
        and sum(q.values()) == 64
        and max(q["a"], q["b"], q["d"]) - min(q["a"], q["b"], q["d"]) <= 1
    )
    assert stratified_quota({"a": 3, "b": 2}, 100) == {"a": 3, "b": 2}


def test_probe_set_is_stratified_deterministic_and_from_one_split():
    entries = _entries()
    probe = probe_set(entries, n=64, seed=7, split="val")
    counts = Counter(e["task"] for e in probe)
    assert len(probe) == 64 and counts["vqa"] == 5
    assert {counts["calculation"], counts["report"], counts["rec"]} <= {19, 20}
    assert all(e["split"] == "val" for e in probe)
    assert [e["task"] for e in probe] == sorted(
        (e["task"] for e in probe), key=["calculation", "report", "rec", "vqa"].index
    )
    assert probe == probe_set(list(reversed(entries)), n=64, seed=7, split="val")  # input order irrelevant
    assert probe != probe_set(entries, n=64, seed=8, split="val")


def test_probe_set_refuses_the_test_split_and_empty_pools():
    with pytest.raises(ValueError, match="test split"):
        probe_set(_entries(), n=8, seed=0, split="test")
    with pytest.raises(ValueError, match="no entries"):
        probe_set([e for e in _entries() if e["split"] != "val"], n=8, split="val")


def test_collate_probe_batches_in_order():
    probe = probe_set(_entries(), n=10, seed=0, split="train")
    batches = collate_probe(probe, lambda rows: [r["id"] for r in rows], batch_size=4)
    assert [len(b) for b in batches] == [4, 4, 2] and [i for b in batches for i in b] == [
        e["id"] for e in probe
    ]
