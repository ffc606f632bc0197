"""Concurrent processes sharing one cache: one builds, the others wait and reuse (``build_cached``, the
function ``imax.train.pretrain.pretrain`` caches the tiny base with)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A stand-in for pretraining: slow enough that the second process arrives while the first builds; it
# counts its builds and leaves the builder's pid in the entry.
CHILD = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from imax.train.pretrain import build_cached

    root = Path(sys.argv[1])
    (root / f"ready-{os.getpid()}").touch()
    while len(list(root.glob("ready-*"))) < 2:  # both start building at once, whatever their import time
        time.sleep(0.005)

    def build(tmp):
        with open(root / "builds.log", "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(1.5)
        (tmp / "weights.bin").write_bytes(os.urandom(64))
        (tmp / "config.json").write_text(json.dumps({"builder": os.getpid()}))

    path = build_cached(root, "key123", build)
    print(json.dumps({"path": str(path), "pid": os.getpid(),
                      "weights": (path / "weights.bin").read_bytes().hex()}))
""")


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_two_processes_one_cache_build_once_and_share(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env()) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    got = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert got[0]["path"] == got[1]["path"] == str(tmp_path / "key123")
    assert got[0]["weights"] == got[1]["weights"]  # the same entry, not two builds racing
    assert len((tmp_path / "builds.log").read_text().split()) == 1
    builder = json.loads((tmp_path / "key123" / "config.json").read_text())["builder"]
    waiter = next(g["pid"] for g in got if g["pid"] != builder)
    waited_err = outs[[g["pid"] for g in got].index(waiter)][1]
    assert "another process is building it" in waited_err
    assert not (tmp_path / ".tmp-key123").exists()


def test_finished_entry_is_reused_and_a_failed_build_leaves_no_entry(tmp_path: Path) -> None:
    from imax.train.pretrain import build_cached

    calls: list[Path] = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "config.json").write_text("{}")

    first = build_cached(tmp_path, "k", build)
    assert build_cached(tmp_path, "k", build) == first and len(calls) == 1
    build_cached(tmp_path, "k", build, force=True)
    assert len(calls) == 2

    def broken(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        build_cached(tmp_path, "other", broken)
    assert not (tmp_path / "other").exists()
    # the lock was released: the next caller builds
    assert build_cached(tmp_path, "other", build) == tmp_path / "other"


@pytest.mark.slow
def test_two_smoke_pretrains_on_one_cache_share_the_base(tmp_path: Path) -> None:
    """The reported failure, on the real path: two `imax pretrain --preset smoke` on one cache at once."""
    cmd = [sys.executable, "-m", "imax.cli", "pretrain", "--preset", "smoke", "--out", str(tmp_path / "cache")]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
             for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    bases = [d for d in (tmp_path / "cache").iterdir() if not d.name.startswith(".")]
    assert len(bases) == 1 and (bases[0] / "config.json").is_file()
    assert any("another process is building it" in e for _, e in outs)
