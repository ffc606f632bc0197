"""An eighth task defined in this one file flows through build → train → evaluate → report.

The task, ``view``, answers the view position of a frontal film (PA or AP). Its truth is the IMAGES
table's ``view`` column, so it needs no source adapter: the spec's ``annotations_from_images`` hook gives
the builder its annotations. Everything else is the spec's own fields — instructions, codec, the generic
``exact`` scorer, a majority-view trivial baseline, ``views`` for pseudo-labelling — and the task is
registered with ``imax.tasks.registered`` for the module only, so nothing leaks into other tests.
Nothing in ``src/imax`` names it: if any layer still branched on the seven task names, this run would
fail there (an unknown task index in training's per-task losses, no scorer, no primary metric, no row in
the report).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from imax.schema.errors import ImaxError
from imax.tasks import TASKS, TaskSpec, registered, task_names, task_tokens
from imax.tasks.baselines import Pair, Predictor, majority
from imax.tasks.text import no_argument

FRONTAL = ("PA", "AP")


def _parse(text: str, query: Mapping[str, Any]) -> dict[str, Any] | None:
    word = text.strip().upper()
    return {"view": word} if word in FRONTAL else None


def _trivial(pairs: Sequence[Pair]) -> Predictor:
    view = majority(str(a["view"]) for _, a in pairs)
    return lambda query: None if view is None else {"view": view}


def _from_images(images: pl.DataFrame) -> pl.DataFrame:
    return images.filter(pl.col("view").is_in(FRONTAL)).select(
        "dicom_id",
        task=pl.lit("view"),
        source=pl.lit("mimic_metadata"),
        query=pl.lit("{}"),
        answer=pl.concat_str(pl.lit('{"view": "'), pl.col("view"), pl.lit('"}')),
        meta=pl.lit("{}"),
    )


VIEW = TaskSpec(
    name="view",
    token="[view]",
    instructions=(
        "Is this film PA or AP?",
        "Give the view position of this chest X-ray.",
        "Which projection is this radiograph, PA or AP?",
        "Name the view position (PA or AP).",
        "State whether this frontal film is posteroanterior or anteroposterior.",
    ),
    instruction_fields=lambda query: {},
    format_answer=lambda query, answer: str(answer["view"]),
    parse_answer=_parse,
    canonical=lambda query, answer: {"view": str(answer["view"]).upper()},
    metrics=("accuracy", "macro_f1"),
    max_new_tokens=4,
    query_from_argument=no_argument("view", {}),
    argument_help="",
    trivial_baseline=_trivial,
    trivial_rule="majority train view",
    description="View position of a frontal film, from the metadata's ViewPosition.",
    scorer="exact",
    views=frozenset(FRONTAL),
    annotations_from_images=_from_images,
)


@pytest.fixture(scope="module")
def view_task() -> Iterator[TaskSpec]:
    with registered(VIEW) as spec:
        yield spec
    assert "view" not in TASKS  # the registration does not outlive the module


def test_registration_is_checked_and_scoped() -> None:
    with registered(VIEW):
        assert task_names()[-1] == "view" and "[view]" in task_tokens()
        with pytest.raises(ImaxError, match="already in the task table"):
            registered(VIEW).__enter__()
    assert "view" not in TASKS and "[view]" not in task_tokens()
    import dataclasses

    with pytest.raises(ImaxError, match="token '\\[refer\\]' is already used"):
        registered(dataclasses.replace(VIEW, token="[refer]")).__enter__()
    assert "view" not in TASKS


def test_pseudo_labelling_asks_the_task_on_its_views_only(view_task: TaskSpec) -> None:
    from imax.pseudo.queries import missing_queries, pool_queries

    train = pl.DataFrame({
        "dicom_id": ["a", "b", "c"], "subject_id": [1, 2, 3], "task": ["view", "report", "report"],
        "query": ["{}", "{}", "{}"], "image": ["a.png", "b.png", "c.png"],
    })
    images = pl.DataFrame({"dicom_id": ["a", "b", "c"], "view": ["PA", "AP", "LATERAL"],
                           "width": [64] * 3, "height": [64] * 3})
    pool = pool_queries(train, vqa_questions=1)
    assert pool["view"] == ["{}"]
    asked = missing_queries(train, images, pool, max_images=None, seed=0).filter(pl.col("task") == "view")
    assert asked["dicom_id"].to_list() == ["b"]  # "a" has it, "c" is a lateral


def test_its_scorer_scores_right_wrong_and_unreadable_answers(view_task: TaskSpec) -> None:
    from imax.evaluate import score_predictions

    refs = ["PA", "AP", "PA", "AP"]

    def scored(outputs: list[str]) -> dict[str, Any]:
        preds = [{"id": str(i), "dicom_id": f"d{i}", "task": "view", "query": {}, "reference": {"view": r},
                  "output": o} for i, (r, o) in enumerate(zip(refs, outputs, strict=True))]
        return score_predictions(preds, meteor=False, n_bootstrap=0)["view"]

    right = scored(refs)
    assert right["accuracy"] == 1.0 and right["macro_f1"] == 1.0 and right["parse_failures"] == 0
    wrong = scored(["AP", "PA", "AP", "PA"])
    assert wrong["accuracy"] == 0.0 and wrong["macro_f1"] == 0.0
    half = scored(["pa", "lateral?", "PA", "AP"])  # case-insensitive; an unreadable answer is wrong, counted
    assert half["accuracy"] == 0.75 and half["parse_failures"] == 1


@pytest.fixture(scope="module")
def run(view_task: TaskSpec, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Phantom → build (IMAX) → train (smoke) → evaluate, with the eighth task registered."""
    from imax.builders import build_dataset
    from imax.evaluate.run import evaluate_model
    from imax.phantom import generate
    from imax.schema.config.build import BuildConfig
    from imax.schema.config.evaluate import EvalConfig
    from imax.schema.config.model import ModelConfig
    from imax.schema.config.phantom import PhantomConfig
    from imax.schema.config.sources import SourcesConfig
    from imax.schema.config.train import TrainConfig
    from imax.sources import read_sources
    from imax.train import train

    root = tmp_path_factory.mktemp("eighth")
    generate(PhantomConfig(out=root / "src", patients=24, seed=0, image_size=64, workers=1))
    tables = read_sources(root / "src", SourcesConfig())
    built = build_dataset(tables, BuildConfig(sources=root / "src", out=root / "data", mode="imax",
                                              max_entries_per_task=None))
    model = ModelConfig.tiny(text_max_position_embeddings=1024)  # phantom reports are long in a 300-token vocabulary
    trained = train(TrainConfig(data=root / "data", out=root / "run", model=model, max_steps=3, batch_size=4,
                                grad_accum=1, lr=5e-3, warmup_ratio=0.0, save_every_steps=0,
                                log_every_steps=1, progress=False, seed=0))
    metrics = evaluate_model(EvalConfig(model=trained.final, data=root / "data", out=root / "eval",
                                        tasks=("view", "calculation"), batch_size=8, bootstrap=20, meteor=False,
                                        max_samples=12))
    return {"root": root, "built": built, "trained": trained, "metrics": metrics, "tables": tables}


def test_build_renders_the_task_from_images(run: dict[str, Any]) -> None:
    built, tables = run["built"], run["tables"]
    views = dict(tables.images.select("dicom_id", "view").iter_rows())
    rows = built.entries.filter(pl.col("task") == "view")
    assert rows.height > 0 and set(rows["split"]) >= {"train", "test"}
    for r in rows.iter_rows(named=True):
        assert r["instruction"].startswith("[view] ") and r["response"] == views[r["dicom_id"]] in FRONTAL
        assert json.loads(r["answer"]) == {"view": r["response"]}
    acc = built.accounting["tasks"]["view"]  # every annotation the hook gave is accounted for
    assert acc["annotations"] == acc["quarantined"] + acc["entries"] + acc["unused"] and acc["entries"] == rows.height
    assert "view" in json.loads((run["root"] / "data" / "tasks.json").read_text())


def test_training_logs_the_task_loss(run: dict[str, Any]) -> None:
    log = [json.loads(line) for line in (run["trained"].out / "log.jsonl").read_text().splitlines()]
    losses = [r["task_loss"]["view"] for r in log if "view" in r.get("task_loss", {})]
    assert losses and all(v > 0 for v in losses)


def test_evaluation_scores_it_with_its_scorer_and_baseline(run: dict[str, Any]) -> None:
    m = run["metrics"]
    view = m["view"]
    assert 0 < view["n"] <= 12 and 0.0 <= view["accuracy"] <= 1.0 and 0.0 <= view["parse_failure_rate"] <= 1.0
    assert m["primary"]["view"]["metric"] == "accuracy" and m["primary"]["view"]["higher_is_better"]
    assert "view" in m["scores"] and len(m["ci"]["view"]["accuracy"]) == 2  # bootstrap CI of its primary
    preds = [json.loads(line) for line in (run["root"] / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert {p["task"] for p in preds} == {"view", "calculation"}
    # The trivial baseline (majority train view) scored by the same scorer: its accuracy is the share of
    # evaluated test films with that view.
    entries = run["built"].entries.filter(pl.col("task") == "view")
    top = majority(json.loads(a)["view"] for a in entries.filter(pl.col("split") == "train")["answer"])
    truth = [p["reference"]["view"] if isinstance(p["reference"], dict) else json.loads(p["reference"])["view"]
             for p in preds if p["task"] == "view"]
    block = m["trivial_baseline"]["tasks"]["view"]
    assert block["metric"] == "accuracy" and block["value"] == pytest.approx(sum(v == top for v in truth) / len(truth))
    md = (run["root"] / "eval" / "metrics.md").read_text()
    assert "| view |" in md


def test_report_has_its_row(run: dict[str, Any], tmp_path: Path) -> None:
    from imax.experiment.aggregate import combine_seeds, primary_metrics
    from imax.report import tables
    from imax.report.html import write_report

    results = {"runs": {"imax": combine_seeds([run["metrics"]], [0])}, "primary_metrics": primary_metrics()}
    table = tables.per_task(results)
    assert table is not None
    row = next(r for r in table.rows if r[0].text == "view")
    assert row[1].text == "accuracy ↑" and row[2].text.startswith(f"{run['metrics']['view']['accuracy']:.3f}")
    written = write_report(results, tmp_path / "report")
    assert "| view |" in written["md"].read_text()
