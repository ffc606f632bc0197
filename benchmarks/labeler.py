"""Labeler throughput: reports/s of imax's rule-based CheXpert labeler on one core (one thread).

    .venv/bin/python benchmarks/labeler.py [--reports 2000] [--repeats 3]

Two report sets: the phantom's MIMIC-style reports (FINDINGS + IMPRESSION sections of
``imax.phantom.reports.write_report``) and reports of 5 sentences drawn at random from the hand-written
corpus (tests/evaluate/data/labeler_corpus.py). Each is timed *cold* (the per-sentence cache cleared
before every report, so every sentence is parsed) and *warm* (the cache as it is used in evaluation: a
sentence seen before is not parsed again). Reports the best of ``--repeats`` runs, wall and CPU time
(the CPU figure is the one to read on a shared machine), and the machine load. Writes
benchmarks/results/labeler.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from imax.evaluate import labeler
from imax.phantom import reports
from imax.phantom.cohort import sample_cohort
from imax.schema.config.phantom import PhantomConfig

ROOT = Path(__file__).resolve().parents[1]


def phantom_reports(n: int, seed: int) -> list[str]:
    """FINDINGS + IMPRESSION text of the first ``n`` phantom studies (as a generated report would read)."""
    out: list[str] = []
    patients = sample_cohort(PhantomConfig(patients=max(1, n), seed=seed))
    gi = 0
    for p in patients:
        prior = None
        for s in p.studies:
            r = np.random.default_rng([seed, 5, gi])
            gi += 1
            rep = reports.write_report(s, prior, r, with_findings=True, addendum=False, sex=p.sex, age=p.age)
            prior = s
            body = re.split(r"\n\s*FINDINGS:", rep.text, maxsplit=1)[-1]
            out.append(re.sub(r"\s+", " ", body.replace("IMPRESSION:", " ")).strip())
            if len(out) == n:
                return out
    return out


def corpus_reports(n: int, seed: int, per_report: int = 5) -> list[str]:
    sys.path.insert(0, str(ROOT / "tests" / "evaluate"))
    from data.labeler_corpus import ALL_BATCHES  # test data, found via sys.path

    sentences = [t for t, _ in ALL_BATCHES]
    rng = random.Random(seed)
    return [" ".join(rng.sample(sentences, per_report)) for _ in range(n)]


def timed(texts: list[str], cold: bool, repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` wall and CPU seconds to label ``texts`` one by one."""
    clear: Callable[[], None] = labeler._cached_sentence.cache_clear
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        clear()
        w0, c0 = time.perf_counter(), time.process_time()
        for t in texts:
            if cold:
                clear()
            labeler.label_report(t)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {
        "seconds_wall": round(best_wall, 4),
        "seconds_cpu": round(best_cpu, 4),
        "reports_per_second_wall": round(len(texts) / best_wall, 1),
        "reports_per_second_cpu": round(len(texts) / best_cpu, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "labeler.json")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    sets = {
        "phantom": phantom_reports(args.reports, args.seed),
        "corpus": corpus_reports(args.reports, args.seed),
    }
    load_before = os.getloadavg()
    result: dict[str, object] = {"labeler": labeler.LABELER_NAME}
    for name, texts in sets.items():
        n_sent = sum(len(labeler.split_sentences(t)) for t in texts)
        entry: dict[str, object] = {
            "reports": len(texts),
            "sentences_per_report": round(n_sent / len(texts), 2),
            "distinct_sentences": len({s for t in texts for s in labeler.split_sentences(t)}),
        }
        for mode in ("cold", "warm"):
            entry[mode] = timed(texts, cold=mode == "cold", repeats=args.repeats)
            print(
                f"{name:8s} {mode}: {entry[mode]['reports_per_second_cpu']:8.0f} reports/s CPU "
                f"({entry[mode]['reports_per_second_wall']:.0f}/s wall), "
                f"{entry['sentences_per_report']} sentences/report"
            )
        result[name] = entry
    result.update({
        "threads": 1,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
    })  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
