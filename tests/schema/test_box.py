import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imax.schema.box import BOX_GRAMMARS, Box, box_to_text, boxes_in_text


def test_xywh_and_normalized_round_trip():
    b = Box.from_xywh(10, 20, 30, 40, 200, 100)
    assert b.to_xyxy() == (10, 20, 40, 60)
    assert b.to_xywh() == (10, 20, 30, 40)
    assert b.to_normalized() == (0.05, 0.2, 0.2, 0.6)
    assert Box.from_normalized(*b.to_normalized(), 200, 100) == b


def test_grid_quantises_half_up_and_clamps():
    b = Box(0, 0, 512, 512, 512, 512)
    assert b.to_grid() == (0, 0, 100, 100)
    # 2.56 px is exactly 0.5 grid units on a 512 canvas: rounds up
    assert Box(2.56, 0, 5.12, 1, 512, 512).to_grid() == (1, 0, 1, 0)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 2000),
    st.integers(1, 2000),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_grid_round_trip_is_exact(w, h, a, b, c, d):
    x1, x2 = sorted((a * w, c * w))
    y1, y2 = sorted((b * h, d * h))
    box = Box(x1, y1, x2, y2, w, h)
    g = box.to_grid()
    assert Box.from_grid(g, w, h).to_grid() == g
    assert box.snapped().to_grid() == g


def test_iou_edge_cases():
    a = Box(0, 0, 10, 10, 100, 100)
    assert a.iou(a) == 1.0
    assert a.iou(Box(20, 20, 30, 30, 100, 100)) == 0.0  # disjoint
    assert a.iou(Box(10, 0, 20, 10, 100, 100)) == 0.0  # touching edge
    assert math.isclose(a.iou(Box(0, 0, 5, 10, 100, 100)), 0.5)  # contained half
    assert math.isclose(a.iou(Box(5, 0, 15, 10, 100, 100)), 50 / 150)
    # same region on a resized image
    assert math.isclose(a.iou(a.rescaled(200, 50)), 1.0)
    p = Box(3, 3, 3, 3, 100, 100)
    assert p.iou(p) == 1.0 and p.iou(Box(4, 4, 4, 4, 100, 100)) == 0.0


def test_from_mask_is_tight():
    m = np.zeros((5, 8), bool)
    m[1:3, 2:6] = True
    assert Box.from_mask(m).to_xyxy() == (2, 1, 6, 3)
    with pytest.raises(ValueError):
        Box.from_mask(np.zeros((3, 3)))


def test_invalid_boxes_are_refused():
    with pytest.raises(ValueError):
        Box(5, 0, 1, 1, 10, 10)
    with pytest.raises(ValueError):
        Box(0, 0, 1, 1, 0, 10)
    with pytest.raises(ValueError):
        Box(0, 0, float("nan"), 1, 10, 10)


@pytest.mark.parametrize("grammar", sorted(BOX_GRAMMARS))
def test_every_grammar_round_trips(grammar):
    b = Box(51.2, 102.4, 256, 409.6, 512, 512)
    text = f"the box is {box_to_text(b, grammar)} here"
    (back,) = boxes_in_text(text, 512, 512, grammar)
    assert back.to_grid() == b.to_grid() == (10, 20, 50, 80)


def test_text_parser_skips_malformed_boxes():
    assert boxes_in_text("{<10><20><5><30>}", 100, 100) == []  # inverted
    assert boxes_in_text("{<10><20><500><30>}", 100, 100) == []  # off grid
    assert boxes_in_text("no box", 100, 100) == []
