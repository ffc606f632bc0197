import json

import polars as pl

from imax.pseudo.queries import missing_queries, pool_queries


def _entries():
    rows = []
    def add(d, s, task, query):
        rows.append({"dicom_id": d, "subject_id": s, "task": task, "query": json.dumps(query), "image": f"{d}.jpg"})
    add("a", 1, "report", {})
    add("a", 1, "vqa", {"question": "Is there edema?", "content_type": "presence", "semantic_type": "verify"})
    add("b", 2, "calculation", {"measure": "ctr"})
    add("b", 2, "calculation", {"measure": "cpar"})
    add("c", 3, "rec", {"phrase": "heart"})
    add("c", 3, "vqa", {"question": "Is there edema?", "content_type": "presence", "semantic_type": "verify"})
    add("d", 4, "vqa", {"question": "What view?", "content_type": "plane", "semantic_type": "query"})
    add("d", 4, "multilabel", {"label_space": "chexpert14"})
    return pl.DataFrame(rows)


def _images():
    return pl.DataFrame({
        "dicom_id": ["a", "b", "c", "d"], "view": ["LATERAL", "PA", "AP", "PA"],
        "width": [64, 64, 64, 80], "height": [64, 64, 64, 70],
    })


def test_pool_keeps_distinct_queries_and_top_vqa():
    pool = pool_queries(_entries(), vqa_questions=1)
    assert pool["calculation"] == [json.dumps({"measure": "cpar"}), json.dumps({"measure": "ctr"})]
    assert [json.loads(q)["question"] for q in pool["vqa"]] == ["Is there edema?"]  # most frequent only
    assert "reg" not in pool and "multiclass" not in pool  # nothing to copy from


def test_missing_queries_respect_views_and_existing_tasks():
    pool = pool_queries(_entries(), vqa_questions=2)
    q = missing_queries(_entries(), _images(), pool, max_images=None, seed=0)
    got = {(r["dicom_id"], r["task"]) for r in q.iter_rows(named=True)}
    # lateral "a": no calculation (PA only) and no rec (frontal only); it has report and vqa already
    assert ("a", "calculation") not in got and ("a", "rec") not in got and ("a", "multilabel") in got
    assert ("a", "vqa") not in got and ("a", "report") not in got
    # AP "c": rec present, calculation needs PA
    assert ("c", "calculation") not in got and ("c", "report") in got
    # PA "d": calculation asked for both measures, rec carries the image size
    assert sum(1 for r in q.iter_rows(named=True) if r["dicom_id"] == "d" and r["task"] == "calculation") == 2
    rec_d = [json.loads(r["query"]) for r in q.iter_rows(named=True) if r["dicom_id"] == "d" and r["task"] == "rec"]
    assert rec_d == [{"phrase": "heart", "size": [80, 70]}]


def test_max_images_subsamples_deterministically():
    pool = pool_queries(_entries(), vqa_questions=2)
    a = missing_queries(_entries(), _images(), pool, max_images=2, seed=3)
    b = missing_queries(_entries(), _images(), pool, max_images=2, seed=3)
    assert a.equals(b) and a["dicom_id"].n_unique() == 2
