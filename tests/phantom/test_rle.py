import numpy as np

from imax.phantom.rle import encode


def decode(rle: str, h: int, w: int) -> np.ndarray:
    """Independent decoder written from source-formats.md §3.3 (1-based starts, row-major)."""
    flat = np.zeros(h * w, dtype=bool)
    nums = [int(x) for x in str(rle).split()]
    for s, n in zip(nums[0::2], nums[1::2], strict=True):
        flat[s - 1 : s - 1 + n] = True
    return flat.reshape(h, w)


def test_worked_examples():
    m = np.zeros((4, 5), bool)
    m[1, 1:4] = True
    m[2, 2:4] = True
    assert encode(m) == "7 3 13 2"
    w = np.zeros((3, 4), bool)
    w[0, 2:] = True
    w[1, :2] = True
    assert encode(w) == "3 4"
    assert encode(np.zeros((3, 3), bool)) == ""


def test_round_trip_random_masks():
    r = np.random.default_rng(0)
    for _ in range(50):
        h, w = r.integers(1, 20, 2)
        m = r.random((h, w)) < r.random()
        m[0, 0] = r.random() < 0.5
        m[-1, -1] = r.random() < 0.5
        assert np.array_equal(decode(encode(m), h, w), m)
