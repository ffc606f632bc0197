import json

import polars as pl

from imax.pseudo.quality import pseudo_quality, query_key


def _truth():
    return pl.DataFrame({
        "dicom_id": ["a", "a", "b"],
        "task": ["calculation", "vqa", "calculation"],
        "query": [json.dumps({"measure": "ctr"}), json.dumps({"question": "Is there edema?"}), json.dumps({"measure": "ctr"})],
        "answer": [json.dumps({"value": 0.5}), json.dumps({"answers": ["yes"]}), json.dumps({"value": 0.4})],
    })


def _row(i, d, task, query, output):
    return {"id": f"{d}:{task}:{i}", "dicom_id": d, "task": task, "query": json.dumps(query), "output": output}


def test_query_key_ignores_size_and_vqa_types():
    assert query_key("rec", {"phrase": "heart", "size": [1, 2]}) == query_key("rec", {"phrase": "heart"})
    assert query_key("vqa", {"question": "Is  there Edema?", "content_type": "x"}) == query_key("vqa", {"question": "is there edema?"})


def test_quality_before_and_after_filter():
    generated = [
        _row(0, "a", "calculation", {"measure": "ctr"}, "0.50"),  # exact
        _row(1, "b", "calculation", {"measure": "ctr"}, "0.60"),  # off by 0.2
        _row(2, "a", "vqa", {"question": "Is there edema?", "content_type": "presence", "semantic_type": "verify"}, "no"),
        _row(3, "c", "calculation", {"measure": "ctr"}, "0.3"),  # no truth for c: not scored
    ]
    kept = [generated[0], generated[3]]
    q = pseudo_quality(generated, kept, _truth(), {"calculation": -0.5, "vqa": -0.5})
    calc = q["calculation"]
    assert calc["generated"] == 3 and calc["kept"] == 2 and abs(calc["kept_fraction"] - 2 / 3) < 1e-12
    assert calc["before_filter"]["n"] == 2 and abs(calc["before_filter"]["mae"] - 0.1) < 1e-9
    assert calc["after_filter"]["n"] == 1 and calc["after_filter"]["mae"] == 0.0
    assert q["vqa"]["before_filter"]["accuracy"] == 0.0 and q["vqa"]["after_filter"] == {"n": 0}
