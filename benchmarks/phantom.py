"""Phantom throughput: images/s for ~1,000 images at 512×512, end to end (render, JPEG, every table).

    .venv/bin/python benchmarks/phantom.py [--images 1000] [--size 512] [--workers 2]

Prints images/s and saves benchmarks/results/phantom.json (with the machine load, which matters on a
shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from imax.phantom import generate
from imax.phantom.cohort import all_images, sample_cohort
from imax.schema.config.phantom import PhantomConfig


def patients_for(images: int, seed: int) -> int:
    """Smallest patient count whose cohort has at least ``images`` images (sampling is cheap)."""
    lo, hi = 1, max(2, images)
    while lo < hi:
        mid = (lo + hi) // 2
        if len(all_images(sample_cohort(PhantomConfig(patients=mid, seed=seed)))) >= images:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _cpu_seconds() -> tuple[float, float]:
    """(this process, its finished children = the render workers) user + system CPU seconds."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "phantom.json")
    args = ap.parse_args()
    n_pat = patients_for(args.images, args.seed)
    load_before = os.getloadavg()
    cpu0 = _cpu_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = generate(PhantomConfig(out=Path(tmp), patients=n_pat, seed=args.seed, image_size=args.size,
                                   workers=args.workers))
        wall = time.perf_counter() - t0
    main_cpu, workers_cpu = (b - a for a, b in zip(cpu0, _cpu_seconds(), strict=True))
    cpu = main_cpu + workers_cpu
    # The main process is serial (sampling, tables, reports); the workers share the cores.
    idle_wall = main_cpu + workers_cpu / max(1, args.workers)
    result = {
        "images": s.images, "patients": s.patients, "image_size": args.size, "workers": args.workers,
        "seconds": round(wall, 3), "images_per_second": round(s.images / wall, 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_seconds_main": round(main_cpu, 2), "cpu_seconds_workers": round(workers_cpu, 2),
        # On a shared machine wall time depends on the neighbours; CPU time much less. Estimated rate on
        # idle cores: serial main-process CPU + worker CPU spread over the workers.
        "images_per_second_idle_estimate": round(s.images / idle_wall, 1),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
    }
    print(f"{s.images} images at {args.size}x{args.size}, {args.workers} workers: {wall:.1f} s -> "
          f"{result['images_per_second']:.1f} images/s (load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}); "
          f"CPU {cpu:.1f} s (main {main_cpu:.1f}) -> ~{result['images_per_second_idle_estimate']:.1f} images/s "
          f"on idle cores")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
