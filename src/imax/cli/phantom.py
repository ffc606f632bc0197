"""``imax phantom``: write the synthetic chest X-ray phantom (all seven sources + truth.parquet)."""

from __future__ import annotations

from imax.phantom import generate
from imax.schema.config.phantom import PhantomConfig

Config = PhantomConfig
HELP = "Generate the synthetic MIMIC-CXR-like phantom dataset (images, reports, all label sources, truth)."


def run(cfg: PhantomConfig) -> int:
    s = generate(cfg)
    print(f"phantom -> {s.out}")
    print(f"  patients {s.patients}  studies {s.studies}  images {s.images}  "
          f"({', '.join(f'{k} {v}' for k, v in s.images_by_view.items())})")
    print("  rows per source file:")
    for name, n in s.rows.items():
        print(f"    {name:<58} {n:>7}")
    print("  prevalence (truth, per image):")
    top = sorted(s.prevalence.items(), key=lambda kv: -kv[1])
    for name, frac in top:
        if frac > 0:
            print(f"    {name:<30} {frac:6.1%}")
    print(f"  {s.seconds:.1f} s, {s.images_per_second:.1f} images/s")
    if cfg.preview is not None:
        print(f"  contact sheet: {cfg.preview}")
    return 0
