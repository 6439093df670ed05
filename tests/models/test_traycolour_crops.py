"""The second stage's inputs: crops from the full-resolution frame and the tray reference."""

from __future__ import annotations

import numpy as np
import pytest

from models.traycolour.crop_samples import (
    CROPS_PER_DISH,
    CROPS_PER_UNKNOWN_DISH,
    FAR,
    NOT_A_DISH,
    negative_centre,
)
from models.traycolour.crops import CROP_CONTEXT, CROP_SIDE, crop_dish, tray_reference
from models.traycolour.dataset import render_arrays
from models.traycolour.palette import LABELS, UNKNOWN
from models.traycolour.preprocess import GRID_HEIGHT, GRID_WIDTH, STRIDE, letterbox
from models.traycolour.synth import TRAINING


def _frame_with_disc(colour: tuple[int, int, int]) -> np.ndarray:
    """A 1280x960 grey frame with a 200 px disc of ``colour`` centred at (400, 300)."""
    frame = np.full((960, 1280, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:960, 0:1280]
    frame[(xx - 400) ** 2 + (yy - 300) ** 2 <= 100**2] = colour
    return frame


def test_crop_is_cut_from_the_full_frame_around_the_candidate() -> None:
    frame = _frame_with_disc((0, 0, 255))
    _, box = letterbox(frame)
    centre = box.to_input(400.0, 300.0)
    size = (200.0 * box.scale, 200.0 * box.scale)
    crop = crop_dish(frame, box, centre, size)
    assert crop.shape == (CROP_SIDE, CROP_SIDE, 3)
    assert crop.dtype == np.uint8
    middle = CROP_SIDE // 2
    assert tuple(crop[middle, middle]) == (0, 0, 255)
    # The box is enlarged by CROP_CONTEXT: the corners show the tray around the dish.
    assert CROP_CONTEXT > 1.0
    assert tuple(crop[0, 0]) == (128, 128, 128)
    assert tuple(crop[-1, -1]) == (128, 128, 128)
    # The disc spans 1 / CROP_CONTEXT of the crop's width along its middle row.
    red = np.count_nonzero(crop[middle, :, 2] > 200)
    assert red == pytest.approx(CROP_SIDE / CROP_CONTEXT, abs=2)
    # Sharper than the canvas: the crop resolves the disc's edge within a pixel or two.
    assert np.count_nonzero((crop[middle, :, 2] > 140) & (crop[middle, :, 2] < 240)) <= 4


def test_crop_at_the_frame_edge_repeats_the_border() -> None:
    frame = _frame_with_disc((0, 255, 0))
    _, box = letterbox(frame)
    centre = box.to_input(0.0, 0.0)
    crop = crop_dish(frame, box, centre, (40.0, 40.0))
    assert crop.shape == (CROP_SIDE, CROP_SIDE, 3)
    assert np.all(crop == 128)


def test_tray_reference_is_the_background_colour() -> None:
    frame = _frame_with_disc((0, 255, 255))
    frame[:, :, 0] = np.where(frame[:, :, 1] == 128, 90, frame[:, :, 0])  # a bluish tray
    canvas, box = letterbox(frame)
    background = np.ones((GRID_HEIGHT, GRID_WIDTH), np.float32)
    # The first network would call the disc's cells dish, not background.
    gy, gx = np.mgrid[0:GRID_HEIGHT, 0:GRID_WIDTH]
    cx, cy = box.to_input(400.0, 300.0)
    radius = 100.0 * box.scale / STRIDE + 1
    background[(gx + 0.5 - cx / STRIDE) ** 2 + (gy + 0.5 - cy / STRIDE) ** 2 <= radius**2] = 0.0
    reference = tray_reference(canvas, background, box, frame.shape)
    assert reference.shape == (3,)
    assert reference == pytest.approx([90.0, 128.0, 128.0], abs=1.0)


def test_training_samples_of_a_rendered_tray() -> None:
    arrays = render_arrays(range(8), TRAINING, workers=1, crops=True)
    samples = arrays.crops
    assert samples is not None
    unknown = LABELS.index(UNKNOWN)
    expected: list[int] = []
    for rows in arrays.boxes:
        for label in rows[:, 4].astype(int):
            expected += [int(label)] * (
                CROPS_PER_UNKNOWN_DISH if label == unknown else CROPS_PER_DISH
            )
    negatives = int(np.count_nonzero(samples.labels == NOT_A_DISH))
    assert 1 <= negatives <= 16
    assert len(samples.labels) == len(expected) + negatives
    dish_labels = sorted(int(label) for label in samples.labels if label != NOT_A_DISH)
    assert dish_labels == sorted(expected)
    assert samples.crops.shape[1:] == (CROP_SIDE, CROP_SIDE, 3)
    assert samples.references.shape == (len(samples.labels), 3)
    assert np.all((samples.references > 0) & (samples.references < 255))


def test_not_a_dish_sample_lies_away_from_every_dish() -> None:
    frame = _frame_with_disc((255, 255, 255))
    _, box = letterbox(frame)
    cx, cy = box.to_input(400.0, 300.0)
    radius = 100.0 * box.scale
    rows = np.array([[cx, cy, 2 * radius, 2 * radius, LABELS.index("white"), radius]], np.float32)
    x_max, y_max = box.to_input(1280.0, 960.0)
    for seed in range(50):
        centre = negative_centre(rows, box, frame.shape, np.random.default_rng(seed))
        assert centre is not None
        assert np.hypot(centre[0] - cx, centre[1] - cy) > FAR * radius
        assert box.pad_x <= centre[0] <= x_max
        assert box.pad_y <= centre[1] <= y_max
    # A frame that is all dish has no place for one.
    huge = np.array([[cx, cy, 999.0, 999.0, 0, 999.0]], np.float32)
    assert negative_centre(huge, box, frame.shape, np.random.default_rng(0)) is None
