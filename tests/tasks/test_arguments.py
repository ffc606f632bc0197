"""``TaskSpec.query_from_argument``: how a user's TEXT becomes each task's query (imax ask / predict / demo)."""

from __future__ import annotations

import pytest

from imax.schema.errors import ImaxError
from imax.tasks import TASKS

SIZE = (640, 480)


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_renders_an_instruction_from_its_argument(task):
    spec = TASKS[task]
    text = {"rec": "Left Lung", "reg": "10, 20, 320, 240", "vqa": "is there  an effusion?"}.get(task)
    query = spec.query_from_argument(text, SIZE)
    assert spec.render_instruction(query, 0).startswith(spec.token + " ")
    assert isinstance(spec.argument_help, str)
    assert bool(spec.argument_help) == (task not in ("report", "multiclass"))


def test_argument_payloads_follow_the_record_conventions():
    assert TASKS["rec"].query_from_argument(" Left Lung ", SIZE) == {"phrase": "left lung", "size": [640, 480]}
    assert TASKS["reg"].query_from_argument("10,20,320,240", SIZE) == {"box": [10.0, 20.0, 320.0, 240.0],
                                                                        "size": [640, 480]}
    assert TASKS["reg"].query_from_argument("(10 20 320 240)", SIZE)["box"] == [10.0, 20.0, 320.0, 240.0]
    assert TASKS["vqa"].query_from_argument("is there  an effusion?", SIZE)["question"] == "is there an effusion?"
    assert TASKS["calculation"].query_from_argument(None, SIZE) == {"measure": "ctr"}
    assert TASKS["calculation"].query_from_argument("CPAR", SIZE) == {"measure": "cpar"}
    assert TASKS["multilabel"].query_from_argument(None, SIZE) == {"label_space": "chexpert14"}
    assert TASKS["multilabel"].query_from_argument("cxrlt26", SIZE) == {"label_space": "cxrlt26"}
    assert TASKS["multiclass"].query_from_argument(None, SIZE) == {"label_space": "edema_severity"}
    assert TASKS["report"].query_from_argument("  ", SIZE) == {}


def test_a_rec_answer_comes_back_in_the_users_pixels():
    spec = TASKS["rec"]
    query = spec.query_from_argument("heart", SIZE)
    assert spec.parse_answer("{<10><20><50><60>}", query) == {"box": [64.0, 96.0, 320.0, 288.0], "size": [640, 480]}


@pytest.mark.parametrize(("task", "text", "message"), [
    ("rec", None, "needs an argument"),
    ("vqa", "   ", "needs an argument"),
    ("reg", None, "needs an argument"),
    ("reg", "10,20,30", "not four numbers"),
    ("reg", "10,20,700,40", "outside the 640x480 image"),
    ("reg", "-1,0,10,10", "outside the 640x480 image"),
    ("reg", "30,20,10,40", "empty or inverted"),
    ("calculation", "bmi", "unknown measure 'bmi'; choose from ctr, cpar"),
    ("multilabel", "chexpert13", "unknown label space"),
    ("report", "the heart", "takes no argument"),
    ("multiclass", "2", "takes no argument"),
])
def test_bad_arguments_are_one_line(task, text, message):
    with pytest.raises(ImaxError, match=message) as exc:
        TASKS[task].query_from_argument(text, SIZE)
    assert "\n" not in str(exc.value) and repr(task) in str(exc.value)
