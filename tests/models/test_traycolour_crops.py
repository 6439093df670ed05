"""The second stage's inputs: rim strips unrolled from the full-resolution frame, and the tray
reference."""

from __future__ import annotations

import numpy as np
import pytest

from models.traycolour.crop_samples import (
    CROP_CLASSES,
    CROPS_PER_DECOY,
    CROPS_PER_DISH,
    CROPS_PER_UNKNOWN_DISH,
    FAR,
    KIND_CLASSES,
    KIND_TO_LABEL,
    KINDS,
    NOT_A_DISH,
    NOT_A_DISH_KIND,
    negative_centre,
    tray_samples,
)
from models.traycolour.crops import (
    CROP_CONTEXT,
    STRIP_ANGLES,
    STRIP_ROWS,
    channel_medians,
    rim_strip,
    strip_radii,
    tray_reference,
)
from models.traycolour.dataset import render_arrays
from models.traycolour.palette import COLOURS, LABELS, SEG_BACKGROUND, UNKNOWN
from models.traycolour.preprocess import (
    GRID_HEIGHT,
    GRID_WIDTH,
    STRIDE,
    letterbox,
    letterbox_classes,
)
from models.traycolour.synth import TRAINING, render_tray


def _frame_with_disc(colour: tuple[int, int, int]) -> np.ndarray:
    """A 1280x960 grey frame with a 200 px disc of ``colour`` centred at (400, 300)."""
    frame = np.full((960, 1280, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:960, 0:1280]
    frame[(xx - 400) ** 2 + (yy - 300) ** 2 <= 100**2] = colour
    return frame


def test_strip_is_read_from_the_full_frame_around_the_candidate() -> None:
    frame = _frame_with_disc((0, 0, 255))
    _, box = letterbox(frame)
    centre = box.to_input(400.0, 300.0)
    size = (200.0 * box.scale, 200.0 * box.scale)
    strip = rim_strip(frame, box, centre, size)
    assert strip.shape == (STRIP_ROWS, STRIP_ANGLES, 3)
    assert strip.dtype == np.uint8
    radii = strip_radii()
    # The disc to its edge, then the tray around it: the strip reaches past the box.
    assert CROP_CONTEXT > 1.0
    assert np.all(strip[radii < 0.95] == (0, 0, 255))
    assert np.all(strip[radii > 1.05] == (128, 128, 128))
    # Sharper than the canvas, where the disc is 40 pixels across: from the full frame the
    # edge falls between two rows, all the way round.
    between = (strip[:, :, 2] > 140) & (strip[:, :, 2] < 240)
    assert int(between.any(axis=1).sum()) <= 1


def test_strip_of_a_large_dish_is_averaged_down_first() -> None:
    # A 1,000-pixel dish: read from the frame averaged down, it is still its colour inside
    # and the tray outside, and pixel noise is averaged away along each column's arc.
    rng = np.random.default_rng(0)
    frame = np.full((1080, 1920, 3), 128.0)
    yy, xx = np.mgrid[0:1080, 0:1920]
    frame[np.hypot(xx - 960, yy - 540) <= 500] = (40.0, 200.0, 40.0)
    noisy = np.clip(frame + rng.normal(0.0, 30.0, frame.shape), 0, 255).astype(np.uint8)
    _, box = letterbox(noisy)
    centre = box.to_input(960.0, 540.0)
    strip = rim_strip(noisy, box, centre, (1000.0 * box.scale, 1000.0 * box.scale))
    radii = strip_radii()
    inside = strip[radii < 0.9].reshape(-1, 3).astype(float)
    assert np.abs(inside.mean(axis=0) - (40.0, 200.0, 40.0)).max() < 3.0
    # One sample of the frame would spread by 30; the averaged strip by a fraction of that.
    assert inside.std(axis=0).max() < 8.0
    assert np.abs(strip[radii > 1.1].astype(float).mean() - 128.0) < 3.0


def test_strip_at_the_frame_edge_repeats_the_border() -> None:
    frame = _frame_with_disc((0, 255, 0))
    _, box = letterbox(frame)
    centre = box.to_input(0.0, 0.0)
    strip = rim_strip(frame, box, centre, (40.0, 40.0))
    assert strip.shape == (STRIP_ROWS, STRIP_ANGLES, 3)
    assert np.all(strip == 128)


def _frame_with_plate(rim: tuple[int, int, int], well: tuple[int, int, int]) -> np.ndarray:
    """A 1280x960 grey frame with a 200 px plate at (400, 300): a ``rim`` colour from 0.8 to
    1 of its radius around a ``well`` (the food)."""
    frame = np.full((960, 1280, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:960, 0:1280]
    r = np.hypot(xx - 400, yy - 300) / 100.0
    frame[r <= 1.0] = rim
    frame[r <= 0.8] = well
    return frame


def test_rim_strip_unrolls_the_dish_from_its_middle_outwards() -> None:
    frame = _frame_with_plate(rim=(255, 0, 0), well=(0, 0, 255))
    _, box = letterbox(frame)
    centre = box.to_input(400.0, 300.0)
    strip = rim_strip(frame, box, centre, (200.0 * box.scale, 200.0 * box.scale))
    assert strip.shape == (STRIP_ROWS, STRIP_ANGLES, 3)
    assert strip.dtype == np.uint8
    radii = strip_radii()
    assert radii[0] < 0.8
    assert radii[-1] == pytest.approx(CROP_CONTEXT)
    # Each row is one radius all the way round: the well (red in BGR), the rim (blue), the tray.
    for row, radius in enumerate(radii):
        if radius < 0.75:
            expected = (0, 0, 255)
        elif 0.85 < radius < 0.95:
            expected = (255, 0, 0)
        elif radius > 1.05:
            expected = (128, 128, 128)
        else:
            continue  # a row on the edge between two of them
        assert np.abs(strip[row].astype(int) - expected).max() <= 12, (row, radius)


def test_turning_the_dish_shifts_its_strip() -> None:
    # A half-and-half plate: blue on the right (angle 0, along +x), green on the left.
    frame = np.full((800, 800, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:800, 0:800]
    # Pixel centres lie at whole coordinates plus a half: this disc turns into itself.
    disc = np.hypot(xx + 0.5 - 400, yy + 0.5 - 400) <= 150
    frame[disc & (xx >= 400)] = (255, 0, 0)
    frame[disc & (xx < 400)] = (0, 255, 0)
    _, box = letterbox(frame)
    centre, size = box.to_input(400.0, 400.0), (300.0 * box.scale, 300.0 * box.scale)
    strip = rim_strip(frame, box, centre, size)
    rim_row = int(np.argmin(np.abs(strip_radii() - 0.9)))
    assert tuple(strip[rim_row, 0]) == (255, 0, 0)
    assert tuple(strip[rim_row, STRIP_ANGLES // 2]) == (0, 255, 0)
    # A quarter turn of the dish is a quarter of the strip's columns, nothing else.
    turned = rim_strip(np.ascontiguousarray(np.rot90(frame, -1)), box, centre, size)
    assert (
        np.abs(turned.astype(int) - np.roll(strip, STRIP_ANGLES // 4, axis=1).astype(int)).max()
        <= 2
    )


def test_kinds_fold_into_the_checkout_labels() -> None:
    assert len(KIND_TO_LABEL) == KIND_CLASSES == len(KINDS) + 1
    assert max(KIND_TO_LABEL) == CROP_CLASSES - 1 == NOT_A_DISH
    for kind, label in zip(KINDS, KIND_TO_LABEL, strict=False):
        assert LABELS[label] == (kind if kind in COLOURS else UNKNOWN)
    assert KIND_TO_LABEL[NOT_A_DISH_KIND] == NOT_A_DISH
    assert {"pink", "brown", "grey", "cyan", "patterned", "half-and-half"} <= set(KINDS)


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


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 100, 2455, 3072])
def test_channel_medians_are_numpys_medians(n: int) -> None:
    rng = np.random.default_rng(n)
    for spread in (3, 40, 256):  # few distinct values (many ties) to all of them
        pixels = rng.integers(100, 100 + spread, (n, 3)).clip(0, 255).astype(np.uint8)
        expected = np.median(pixels.astype(np.float32), axis=0)
        got = channel_medians(pixels)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_training_samples_of_a_rendered_tray() -> None:
    arrays = render_arrays(range(8), TRAINING, workers=1, crops=True)
    samples = arrays.crops
    assert samples is not None
    unknown = LABELS.index(UNKNOWN)
    expected: list[int] = []
    for rows in arrays.boxes:
        for label, kind in rows[:, [4, 6]].astype(int):
            # The kind says what was drawn; its checkout label is the one the tray holds.
            assert KIND_TO_LABEL[kind] == label
            expected += [int(kind)] * (
                CROPS_PER_UNKNOWN_DISH if label == unknown else CROPS_PER_DISH
            )
    negatives = int(np.count_nonzero(samples.labels == NOT_A_DISH_KIND))
    # Up to two per tray, and as many as a dish for each decoy (a spoon's bowl, a napkin).
    decoys = sum(len(render_tray(seed, TRAINING)[1].decoys) for seed in range(8))
    assert 1 <= negatives <= 16 + CROPS_PER_DECOY * decoys
    assert len(samples.labels) == len(expected) + negatives
    dish_labels = sorted(int(label) for label in samples.labels if label != NOT_A_DISH_KIND)
    assert dish_labels == sorted(expected)
    assert samples.crops.shape[1:] == (STRIP_ROWS, STRIP_ANGLES, 3)
    assert samples.references.shape == (len(samples.labels), 3)
    assert np.all((samples.references > 0) & (samples.references < 255))


def test_not_a_dish_sample_lies_away_from_every_dish() -> None:
    frame = _frame_with_disc((255, 255, 255))
    _, box = letterbox(frame)
    cx, cy = box.to_input(400.0, 300.0)
    radius = 100.0 * box.scale
    white = LABELS.index("white")
    rows = np.array([[cx, cy, 2 * radius, 2 * radius, white, radius, white]], np.float32)
    x_max, y_max = box.to_input(1280.0, 960.0)
    for seed in range(50):
        centre = negative_centre(rows, box, frame.shape, np.random.default_rng(seed))
        assert centre is not None
        assert np.hypot(centre[0] - cx, centre[1] - cy) > FAR * radius
        assert box.pad_x <= centre[0] <= x_max
        assert box.pad_y <= centre[1] <= y_max
    # A frame that is all dish has no place for one.
    huge = np.array([[cx, cy, 999.0, 999.0, 0, 999.0, 0]], np.float32)
    assert negative_centre(huge, box, frame.shape, np.random.default_rng(0)) is None


def test_decoys_become_not_a_dish_strips_unless_they_lie_on_a_dish() -> None:
    frame = _frame_with_disc((255, 255, 255))
    canvas, box = letterbox(frame)
    cells = letterbox_classes(np.zeros(frame.shape[:2], np.uint8), box, SEG_BACKGROUND)
    cx, cy = box.to_input(400.0, 300.0)
    radius = 100.0 * box.scale
    white = LABELS.index("white")
    rows = np.array([[cx, cy, 2 * radius, 2 * radius, white, radius, white]], np.float32)
    spoon = (*box.to_input(900.0, 600.0), 40.0 * box.scale, 25.0 * box.scale)
    on_the_plate = (cx + 0.3 * radius, cy, 40.0 * box.scale, 25.0 * box.scale)
    samples = tray_samples(
        frame,
        canvas=canvas,
        cells=cells,
        box=box,
        rows=rows,
        rng=np.random.default_rng(0),
        decoys=np.array([spoon, on_the_plate], np.float32),
    )
    without = tray_samples(
        frame, canvas=canvas, cells=cells, box=box, rows=rows, rng=np.random.default_rng(0)
    )
    # The spoon clear of the plate gives its strips; the one resting on the plate gives none.
    added = int(np.count_nonzero(samples.labels == NOT_A_DISH_KIND)) - int(
        np.count_nonzero(without.labels == NOT_A_DISH_KIND)
    )
    assert added == CROPS_PER_DECOY
    assert int(np.count_nonzero(samples.labels == white)) == CROPS_PER_DISH
