"""Each task's trivial baseline on hand-made train tables: what it answers, from which train answers."""

from __future__ import annotations

import pytest

from imax.tasks import TASKS


def fit(task: str, pairs: list[tuple[dict, dict]]):
    return TASKS[task].trivial_baseline(pairs)


def test_calculation_median_per_measure():
    predict = fit("calculation", [({"measure": "ctr"}, {"value": v}) for v in (0.40, 0.50, 0.90)]
                  + [({"measure": "cpar"}, {"value": v}) for v in (0.30, 0.36)])
    assert predict({"measure": "ctr"}) == {"value": pytest.approx(0.50)}  # the median, not the mean 0.60
    assert predict({"measure": "cpar"}) == {"value": pytest.approx(0.33)}
    assert predict({"measure": "other"}) == {"value": pytest.approx(0.40)}  # median of all five
    assert TASKS["calculation"].format_answer({"measure": "cpar"}, predict({"measure": "cpar"})) == "0.33"


def test_multiclass_majority_grade_ties_to_the_smallest():
    assert fit("multiclass", [({}, {"grade": g}) for g in (1, 1, 2, 0)])({}) == {"grade": 1}
    assert fit("multiclass", [({}, {"grade": g}) for g in (2, 0, 2, 0)])({}) == {"grade": 0}


def test_multilabel_most_frequent_set_per_label_space():
    space = {"label_space": "chexpert14"}
    lt = {"label_space": "cxrlt26"}
    pairs = [(space, {"labels": ["Edema", "Cardiomegaly"]}), (space, {"labels": ["Cardiomegaly", "Edema"]}),
             (space, {"labels": ["Cardiomegaly"]}), (space, {"labels": []}), (lt, {"labels": []}),
             (lt, {"labels": []}), (lt, {"labels": ["Emphysema"]})]
    predict = fit("multilabel", pairs)
    assert predict(space) == {"labels": ["Cardiomegaly", "Edema"]}  # the whole set, order-insensitive
    assert predict(lt) == {"labels": []}
    assert TASKS["multilabel"].format_answer(space, predict(space)) == "Cardiomegaly, Edema"


def test_rec_mean_box_per_region_on_the_query_canvas():
    pairs = [({"phrase": "heart"}, {"box": [20, 40, 60, 80], "size": [100, 100]}),
             ({"phrase": "heart"}, {"box": [60, 120, 140, 200], "size": [200, 200]}),  # same box, 2x canvas
             ({"phrase": "heart"}, {"box": [40, 40, 80, 80], "size": [100, 100]}),
             ({"phrase": "left lung"}, {"box": [50, 10, 90, 90], "size": [100, 100]})]
    predict = fit("rec", pairs)
    # heart: normalised (0.2,0.4,0.6,0.8), (0.3,0.6,0.7,1.0), (0.4,0.4,0.8,0.8) → mean (0.3,0.4667,0.7,0.8667)
    out = predict({"phrase": "Heart", "size": [300, 600]})
    assert out["size"] == [300, 600]
    assert out["box"] == pytest.approx([90, 280, 210, 520])
    assert predict({"phrase": "heart"})["size"] == [100, 100]  # no size: the 100-grid canvas
    unseen = predict({"phrase": "trachea", "size": [100, 100]})["box"]  # mean of all four boxes
    assert unseen == pytest.approx([35, 37.5, 75, 87.5])
    assert TASKS["rec"].format_answer({}, predict({"phrase": "heart", "size": [100, 100]})) == "{<30><47><70><87>}"


def test_reg_names_the_region_whose_mean_box_overlaps_the_query_most():
    def pair(box, phrase):
        return {"box": box, "size": [100, 100]}, {"phrase": phrase}

    predict = fit("reg", [pair([30, 40, 70, 80], "heart"), pair([34, 44, 74, 84], "heart"),
                          pair([10, 10, 45, 90], "right lung"), pair([55, 10, 90, 90], "left lung"),
                          pair([10, 10, 90, 90], "both lungs")])
    assert predict({"box": [33, 45, 70, 85], "size": [100, 100]}) == {"phrase": "heart"}
    assert predict({"box": [120, 20, 180, 180], "size": [200, 200]}) == {"phrase": "left lung"}  # scale-free
    assert predict({"box": [5, 5, 95, 95], "size": [100, 100]}) == {"phrase": "both lungs"}
    assert predict({"box": [12, 12, 40, 88], "size": [100, 100]}) == {"phrase": "right lung"}


def test_vqa_majority_per_question_then_family_then_all():
    def q(text, content="presence", semantic="verify"):
        return {"question": text, "content_type": content, "semantic_type": semantic}

    pairs = [(q("Is there edema?"), {"answers": ["yes"]}), (q("Is there edema?"), {"answers": ["yes"]}),
             (q("Is there edema?"), {"answers": ["no"]}), (q("Is there effusion?"), {"answers": ["no"]}),
             (q("Is there a mass?"), {"answers": ["no"]}),
             (q("Is this patient male or female?", "gender", "choose"), {"answers": ["m"]}),
             (q("Is this patient male or female?", "gender", "choose"), {"answers": ["f"]}),
             (q("Is this patient male or female?", "gender", "choose"), {"answers": ["m"]})]
    predict = fit("vqa", pairs)
    assert predict(q("Is there edema?")) == {"answers": ["yes"]}  # its own majority, not the family's "no"
    assert predict(q("  is there EDEMA? ")) == {"answers": ["yes"]}  # the text is normalised
    assert predict(q("Is there a nodule?")) == {"answers": ["no"]}  # unseen: presence/verify majority
    assert predict(q("Is this patient male or female?", "gender", "choose")) == {"answers": ["m"]}
    assert predict(q("How big is the heart?", "size", "query")) == {"answers": ["no"]}  # all questions


def test_report_most_frequent_train_report():
    texts = ["No acute findings.", "Heart is enlarged.", "No  acute findings. ", "Small effusion."]
    predict = fit("report", [({}, {"text": t}) for t in texts])
    assert predict({}) == {"text": "No acute findings."}  # whitespace-normalised before counting


@pytest.mark.parametrize("task", list(TASKS))
def test_empty_train_split_answers_nothing(task):
    assert TASKS[task].trivial_baseline([])({"measure": "ctr", "phrase": "heart", "label_space": "chexpert14",
                                            "question": "?", "box": [1, 1, 2, 2], "size": [4, 4]}) is None


def test_every_task_documents_its_baseline():
    for spec in TASKS.values():
        assert spec.trivial_rule and spec.describe()["trivial_baseline"] == spec.trivial_rule
