"""Build the recipe-selection data: IMAX, DMAX from a phantom draw of its own, with a val split big enough to
choose a recipe on.

The study's own build keeps MIMIC-CXR's official split, whose validate share is small (the quick
experiment's val split holds 29 image-centric images: one multiclass entry moves the criterion by
0.012). This build uses a different phantom seed (1) and puts a quarter of the patients in the official
validate split, with more patients (1800) so the train split keeps the quick experiment's volume (~470
image-centric train images). Nothing of the experiment's test split is touched; recipe.py scores the
candidates on this build's val split (~196 images).

    .venv/bin/python benchmarks/recipe_data.py --out runs/recipe-data
    .venv/bin/python benchmarks/recipe.py --data runs/recipe-data/data --base runs/cache/<hash> ...
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/recipe-data"))
    ap.add_argument("--patients", type=int, default=1800)
    ap.add_argument("--phantom-seed", type=int, default=1)
    ap.add_argument("--validate-fraction", type=float, default=0.25)
    args = ap.parse_args()
    from imax.experiment.plan import make_plan
    from imax.experiment.run import prepare_data
    from imax.schema.config.experiment import ExperimentConfig

    cfg = ExperimentConfig(out=args.out, preset="quick", patients=args.patients, phantom_seed=args.phantom_seed,
                           control=False)
    plan = make_plan(cfg)
    assert plan.phantom is not None
    plan = replace(plan, phantom=replace(plan.phantom, validate_fraction=args.validate_fraction))
    prepare_data(cfg, plan, print)


if __name__ == "__main__":
    main()
