"""The task table: codecs are exact inverses; tokens are unique; parsers never crash on garbage."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imax.schema.records import CHEXPERT14, CXRLT26, TASK_NAMES
from imax.tasks import TASK_TOKENS, TASKS

EXAMPLES = {
    "calculation": [({"measure": "ctr"}, {"value": 0.4567}), ({"measure": "cpar"}, {"value": 0.3})],
    "report": [({}, {"text": "The heart is  enlarged.\n No pleural effusion."})],
    "multiclass": [({"label_space": "edema_severity"}, {"grade": g}) for g in range(4)],
    "multilabel": [
        ({"label_space": "chexpert14"}, {"labels": ["Pleural Effusion", "Cardiomegaly"]}),
        ({"label_space": "cxrlt26"}, {"labels": []}),
    ],
    "rec": [
        ({"phrase": "heart"}, {"box": [100.3, 200.1, 300.7, 400.2], "size": [512, 480]}),
        ({"phrase": "left lung", "size": [512, 480]}, {"box": [0, 0, 512, 480], "size": [512, 480]}),
    ],
    "reg": [({"box": [1, 2, 30, 40], "size": [64, 64]}, {"phrase": "Right Lung"})],
    "vqa": [
        ({"question": "Is there edema?", "content_type": "presence", "semantic_type": "verify"}, {"answers": ["yes"]}),
        ({"question": "Where?", "content_type": "anatomy", "semantic_type": "query"}, {"answers": ["right lung", "left lung"]}),
        ({"question": "Which?", "content_type": "attribute", "semantic_type": "query"}, {"answers": []}),
    ],
}


def test_table_covers_the_seven_tasks_in_order():
    assert tuple(TASKS) == TASK_NAMES
    assert len(set(TASK_TOKENS)) == 7
    assert TASKS["calculation"].token == "[calculate]" and TASKS["rec"].token == "[refer]"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_parse_inverts_format(task):
    spec = TASKS[task]
    for query, answer in EXAMPLES[task]:
        text = spec.format_answer(query, answer)
        assert spec.parse_answer(text, query) == spec.canonical(query, answer), text


@pytest.mark.parametrize("task", TASK_NAMES)
def test_instruction_pool_is_large_and_starts_with_token(task):
    spec = TASKS[task]
    assert len(spec.instructions) >= 5
    query = EXAMPLES[task][0][0]
    rendered = {spec.render_instruction(query, k) for k in range(len(spec.instructions))}
    assert len(rendered) == len(spec.instructions)
    assert all(r.startswith(spec.token + " ") for r in rendered)


def test_canonical_values():
    assert TASKS["calculation"].canonical({"measure": "ctr"}, {"value": 0.456}) == {"value": 0.46}
    assert TASKS["multiclass"].format_answer({}, {"grade": 2}) == "2: interstitial edema"
    assert TASKS["multilabel"].format_answer({"label_space": "chexpert14"}, {"labels": []}) == "none"
    rec = TASKS["rec"].canonical({"phrase": "heart"}, {"box": [51.2, 0, 512, 256], "size": [512, 512]})
    assert rec == {"box": [10.0, 0.0, 100.0, 50.0], "size": [100, 100]}


@pytest.mark.parametrize(
    ("task", "text", "query"),
    [
        ("calculation", "the heart is big", {"measure": "ctr"}),
        ("multiclass", "severe", {"label_space": "edema_severity"}),
        ("multilabel", "banana, kiwi", {"label_space": "chexpert14"}),
        ("rec", "somewhere on the left", {"phrase": "heart"}),
        ("report", "   ", {}),
        ("vqa", " , ;", {"question": "q"}),
    ],
)
def test_garbage_is_unparseable(task, text, query):
    assert TASKS[task].parse_answer(text, query) is None


def test_multilabel_parse_is_case_and_separator_lenient():
    parsed = TASKS["multilabel"].parse_answer("pleural effusion; CARDIOMEGALY, made-up", {"label_space": "chexpert14"})
    assert parsed == {"labels": ["Cardiomegaly", "Pleural Effusion"]}


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(TASK_NAMES), st.text(max_size=80))
def test_parsers_never_raise(task, text):
    query = EXAMPLES[task][0][0]
    TASKS[task].parse_answer(text, query)


@settings(max_examples=100, deadline=None)
@given(st.sets(st.sampled_from(CXRLT26)), st.sets(st.sampled_from(CHEXPERT14)))
def test_multilabel_round_trip_any_set(lt, cx):
    spec = TASKS["multilabel"]
    for space, labels in (("cxrlt26", lt), ("chexpert14", cx)):
        q, a = {"label_space": space}, {"labels": list(labels)}
        assert spec.parse_answer(spec.format_answer(q, a), q) == spec.canonical(q, a)


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 1.99, allow_nan=False))
def test_calculation_round_trip_any_value(v):
    spec = TASKS["calculation"]
    q, a = {"measure": "ctr"}, {"value": v}
    assert spec.parse_answer(spec.format_answer(q, a), q) == spec.canonical(q, a)
