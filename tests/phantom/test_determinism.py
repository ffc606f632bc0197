"""Same seed -> byte-identical tree (also across worker counts); another seed -> different files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imax.phantom import generate
from imax.schema.config.phantom import PhantomConfig


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_any_workers(tmp_path: Path):
    kw = dict(patients=12, image_size=64)
    generate(PhantomConfig(out=tmp_path / "a", seed=5, workers=1, **kw))
    generate(PhantomConfig(out=tmp_path / "b", seed=5, workers=2, **kw))
    generate(PhantomConfig(out=tmp_path / "c", seed=6, workers=1, **kw))
    a, b, c = (tree_hashes(tmp_path / x) for x in "abc")
    assert a == b
    assert len(a) > 40
    shared = set(a) & set(c)
    for name in ("mimic-cxr-2.0.0-metadata.csv.gz", "truth.parquet", "mimic-cxr-2.0.0-chexpert.csv.gz"):
        assert name in shared and a[name] != c[name]
    assert set(a) != set(c)  # different ids -> different image paths
