"""The renderer's per-channel helpers give what NumPy's broadcasting gives, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from models.traycolour import pixel_ops as px
from models.traycolour.synth_tray import nonzero_window, paint


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.mark.parametrize("factor_dtype", [np.float32, np.float64])
def test_in_place_helpers_match_broadcasting(
    rng: np.random.Generator, factor_dtype: type[np.floating]
) -> None:
    img = rng.random((37, 53, 3), dtype=np.float32)
    factor = (rng.random((37, 53)) + 0.5).astype(factor_dtype)
    # ``a *= f[:, :, None]`` is ``np.multiply(a, f[:, :, None], out=a)``, and so on.
    for helper, ufunc in ((px.scale, np.multiply), (px.shift, np.add), (px.divide, np.divide)):
        expected, got = img.copy(), img.copy()
        ufunc(expected, factor[:, :, None], out=expected, casting="same_kind")
        helper(got, factor)
        assert got.dtype == np.float32
        assert np.array_equal(got, expected), helper.__name__


def test_times_matches_broadcasting_for_a_colour_and_per_pixel(rng: np.random.Generator) -> None:
    factor = rng.random((20, 30), dtype=np.float32)
    for colour in (
        np.array([0.2, 0.5, 0.9], np.float32),
        np.array([0.2, 0.5, 0.9], np.float64),
        rng.random((20, 30, 3), dtype=np.float32),
    ):
        expected = colour * factor[:, :, None]
        got = px.times(colour, factor)
        assert got.dtype == expected.dtype
        assert np.array_equal(got, expected)


def test_paint_is_the_blend_and_leaves_the_rest_alone(rng: np.random.Generator) -> None:
    img = rng.random((40, 60, 3), dtype=np.float32)
    alpha = np.zeros((40, 60), np.float32)
    alpha[10:18, 25:41] = rng.random((8, 16), dtype=np.float32)
    assert nonzero_window(alpha) == (slice(10, 18), slice(25, 41))
    for colour in (np.array([0.9, 0.1, 0.4], np.float32), rng.random((40, 60, 3), np.float32)):
        expected = img * (1.0 - alpha[:, :, None]) + colour * alpha[:, :, None]
        got = img.copy()
        paint(got, alpha, colour)
        assert np.array_equal(got, expected)
    untouched = img.copy()
    paint(untouched, np.zeros_like(alpha), np.ones(3, np.float32))
    assert nonzero_window(np.zeros_like(alpha)) is None
    assert np.array_equal(untouched, img)
