"""``pretrain``: a base that never saw the seven tasks — no stage's data holds a task token, a task
instruction or a task answer format; the pool is disjoint from every study patient; cached by config hash."""

from __future__ import annotations

import json
import re

import pytest

from imax.schema.config.train import PretrainConfig
from imax.schema.errors import ImaxError
from imax.tasks import TASK_TOKENS, TASKS
from imax.train.pretrain import audit_texts, cache_key, check_pool, pretrain, stage_data

from .conftest import tiny_model


def _task_hits(text: str) -> list[str]:
    """Independent of imax.train.pretrain's audit: task tokens, and every instruction template of every
    task with its placeholders as wildcards (a template that is only a placeholder is skipped: it has no
    text of its own to find)."""
    hits = [tok for tok in TASK_TOKENS if tok.lower() in text.lower()]
    for name, spec in TASKS.items():
        for template in spec.instructions:
            literal = [re.escape(p) for p in re.split(r"\{\w+\}", template)]
            if not "".join(literal).strip():
                continue
            if re.search(".+?".join(literal), text, re.IGNORECASE | re.DOTALL):
                hits.append(f"{name}: {template}")
    return hits


def test_no_stage_text_contains_a_task_token_or_instruction(pool_phantom):
    data = stage_data(pool_phantom, 0.2, seed=0)
    texts = data["train_texts"] + data["held_texts"]
    assert len(texts) == len(data["frontals"]) > 10
    assert {t: _task_hits(t) for t in texts if _task_hits(t)} == {}
    # no report text either: the descriptions share no sentence with the phantom's reports
    reports = [p.read_text() for p in pool_phantom.glob("files/**/s*.txt")]
    report_sentences = {s.strip() for r in reports for s in re.split(r"(?<=\.)\s+", " ".join(r.split())) if len(s) > 20}
    assert not report_sentences & {s.strip() for t in texts for s in re.split(r"(?<=\.)\s+", t)}
    assert not any("FINDINGS:" in t or "IMPRESSION:" in t for t in texts)


def test_audit_catches_task_data():
    q = {"calculation": {"measure": "ctr"}, "rec": {"phrase": "left lung"}, "multilabel": {"label_space": "chexpert14"}}
    assert audit_texts(["A clean description of a chest film."])["task_instructions"] == 0
    for task, query in q.items():
        rendered = TASKS[task].render_instruction(query, 1)
        a = audit_texts([f"Some caption. {rendered} More text."])
        assert a["task_tokens"] == 1 and a["task_instructions"] >= 1, task
        bare = rendered.split(" ", 1)[1]  # the instruction without its token is still caught
        assert audit_texts([bare])["task_instructions"] >= 1, task
    assert audit_texts(["FINDINGS: The lungs are clear."])["answer_formats"] == 1
    assert audit_texts(["ratio 0.52"])["answer_formats"] == 1
    assert audit_texts(["{<12><20><45><80>}"])["answer_formats"] == 1
    assert audit_texts(["Is there an effusion?"])["answer_formats"] == 1


def test_pretrain_on_a_pool_is_cached_and_reports_every_stage(pool_phantom, tmp_path):
    cfg = PretrainConfig(out=tmp_path / "cache", pool=pool_phantom, preset="smoke", model=tiny_model(), batch_size=4,
                         probe_labels=("Cardiomegaly",))
    path = pretrain(cfg)
    assert path == tmp_path / "cache" / cache_key(cfg)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "config.yaml", "pretrain_report.json"):
        assert (path / name).is_file(), name
    report = json.loads((path / "pretrain_report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["vision", "language", "alignment", "captioning"]
    for stage in report["stages"]:
        assert stage["data"] and stage["format"] and stage["losses"], stage["name"]
        assert not _task_hits(stage["data"] + stage["format"])
    assert report["audit"]["texts"] > 10
    assert report["audit"]["task_tokens"] == report["audit"]["task_instructions"] == report["audit"]["answer_formats"] == 0
    assert report["pool_ids"]["subject_ids"][0] >= 19_000_000
    assert report["probe"]["labels"] == ["Cardiomegaly"] and report["probe"]["test_images"] > 0
    # no work or tmp dirs left behind (the per-key lock file stays: deleting it would race a waiter)
    assert [p.name for p in (tmp_path / "cache").glob(".*")] == [f".lock-{cache_key(cfg)}"]
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    assert pretrain(cfg) == path and (path / "model.safetensors").stat().st_mtime_ns == mtime  # reused

    from imax.model import load_base

    model, tok = load_base(path)
    assert any(p.requires_grad for p in model.parameters())
    assert all(len(tok.encode(t, add_special_tokens=False)) == 1 for t in TASK_TOKENS)  # usable by the fine-tune


def test_a_study_phantom_is_refused_as_pool(tmp_path):
    from imax.phantom import generate
    from imax.schema.config.phantom import PhantomConfig

    generate(PhantomConfig(out=tmp_path / "study", patients=3, seed=1, image_size=64, workers=1))
    with pytest.raises(ImaxError, match="outside the pretraining id block"):
        check_pool(tmp_path / "study")


def test_unknown_probe_label_fails_before_any_work(tmp_path):
    cfg = PretrainConfig(out=tmp_path / "cache", pool=tmp_path / "missing", preset="smoke", probe_labels=("Cardiomegally",))
    with pytest.raises(ImaxError, match=r"probe_labels: unknown finding\(s\) \['Cardiomegally'\]"):
        pretrain(cfg)
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_pretrain_smoke_preset_generates_its_pool(tmp_path):
    path = pretrain(PretrainConfig(out=tmp_path, preset="smoke"))
    report = json.loads((path / "pretrain_report.json").read_text())
    assert report["phantom_seed"] == 9001 and report["pool_images"]["frontal_train"] > 0
