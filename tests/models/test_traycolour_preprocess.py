"""Frame to network input: the letterbox, and the quick shrink behind it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.traycolour.preprocess import (
    INPUT_HEIGHT,
    INPUT_WIDTH,
    PAD_VALUE,
    letterbox,
    shrink,
)

SIZES = [(320, 240), (640, 480), (800, 600), (1280, 720), (1920, 1080), (480, 480), (333, 517)]


def _scene(width: int, height: int) -> np.ndarray:
    """A frame with smooth shapes and sensor noise, like a tray seen from above."""
    rng = np.random.default_rng(width * height)
    frame = np.full((height, width, 3), 120.0)
    for _ in range(6):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(10, max(11, min(width, height) // 4)))
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        cv2.circle(frame, centre, radius, colour, -1)
    frame += rng.normal(0.0, 12.0, frame.shape)
    return np.asarray(np.clip(frame, 0, 255), np.uint8)


@pytest.mark.parametrize("size", SIZES)
def test_shrink_is_close_to_plain_area_averaging(size: tuple[int, int]) -> None:
    frame = _scene(*size)
    scale = min(INPUT_WIDTH / size[0], INPUT_HEIGHT / size[1])
    target = (round(size[0] * scale), round(size[1] * scale))
    quick, used = shrink(frame, target)
    plain = cv2.resize(frame, target, interpolation=cv2.INTER_AREA)
    assert quick.shape == plain.shape
    assert size[0] - used[0] < size[0] / target[0]
    assert size[1] - used[1] < size[1] / target[1]
    difference = np.abs(quick.astype(float) - plain.astype(float))
    # Noise averages a little differently; edges may move by a fraction of a pixel.
    assert float(difference.mean()) < 4.0
    assert float(np.median(difference)) < 3.0


@pytest.mark.parametrize("size", SIZES)
def test_letterbox_maps_frame_points_onto_the_canvas(size: tuple[int, int]) -> None:
    width, height = size
    frame = np.zeros((height, width, 3), np.uint8)
    # A bright square a tenth of the frame across, around a point off the middle.
    x, y = 0.3 * width, 0.65 * height
    half = max(4, min(width, height) // 20)
    frame[round(y) - half : round(y) + half, round(x) - half : round(x) + half] = 255
    canvas, box = letterbox(frame)
    assert canvas.shape == (INPUT_HEIGHT, INPUT_WIDTH, 3)
    assert canvas.dtype == np.uint8
    bright = canvas[:, :, 0].astype(float)
    bright[bright == PAD_VALUE] = 0.0
    ys, xs = np.mgrid[0:INPUT_HEIGHT, 0:INPUT_WIDTH]
    # The square's centre of brightness lands where the box says the point goes.
    cx = float((bright * (xs + 0.5)).sum() / bright.sum())
    cy = float((bright * (ys + 0.5)).sum() / bright.sum())
    ex, ey = box.to_input(x, y)
    assert cx == pytest.approx(ex, abs=0.6)
    assert cy == pytest.approx(ey, abs=0.6)
    fx, fy = box.to_frame(ex, ey)
    assert (fx, fy) == pytest.approx((x, y))
