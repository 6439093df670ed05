"""Decoding of hand-made output maps and the scoring rules, without the network."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.traycolour.crop_samples import CROP_CLASSES, NOT_A_DISH
from models.traycolour.decode import Thresholds, decode, find_peaks, membership, staff_reasons
from models.traycolour.labels import ItemLabel, TrayLabel
from models.traycolour.metrics import Prediction, TrayOutcome, match_items, summarise
from models.traycolour.palette import (
    COLOURS,
    LABELS,
    N_SEG_CLASSES,
    SEG_BACKGROUND,
    SEG_FIRST_DISH,
    UNKNOWN,
)
from models.traycolour.preprocess import GRID_HEIGHT, GRID_WIDTH, STRIDE


def _maps(
    dishes: list[tuple[int, int, float, str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Output maps with a peak per (column, row, diameter in cells, colour) dish."""
    heat = np.zeros((GRID_HEIGHT, GRID_WIDTH), np.float32)
    geometry = np.zeros((4, GRID_HEIGHT, GRID_WIDTH), np.float32)
    classes = np.zeros((N_SEG_CLASSES, GRID_HEIGHT, GRID_WIDTH), np.float32)
    classes[SEG_BACKGROUND] = 1.0
    logits = np.zeros((len(LABELS) + 1, GRID_HEIGHT, GRID_WIDTH), np.float32)  # + attention
    gy, gx = np.mgrid[0:GRID_HEIGHT, 0:GRID_WIDTH]
    for col, row, diameter, colour in dishes:
        heat[row, col] = 0.9
        geometry[0, row, col] = geometry[1, row, col] = np.log(diameter)
        inside = (gx - col) ** 2 + (gy - row) ** 2 <= (diameter / 2) ** 2
        classes[:, inside] = 0.0
        classes[SEG_FIRST_DISH, inside] = 1.0  # dish surface
        logits[LABELS.index(colour), inside] = 8.0
    return heat, geometry, classes, logits


def test_two_touching_dishes_keep_their_own_colours() -> None:
    heat, geometry, classes, logits = _maps([(20, 20, 12.0, "red"), (32, 20, 12.0, "blue")])
    decoded = decode(heat, geometry, classes, logits, Thresholds())
    assert decoded.doubtful_peaks == 0
    assert [d.colour for d in decoded.dishes] == ["red", "blue"]
    first = decoded.dishes[0]
    assert first.cx == pytest.approx((20 + 0.5) * STRIDE)
    assert first.width == pytest.approx(12.0 * STRIDE, rel=1e-5)
    assert all(d.confidence > 0.95 for d in decoded.dishes)


def test_unknown_class_and_weak_peaks() -> None:
    heat, geometry, classes, logits = _maps([(20, 20, 10.0, UNKNOWN), (45, 30, 10.0, "green")])
    heat[30, 45] = 0.2  # between doubt and detect: not a dish, but staff must look
    decoded = decode(heat, geometry, classes, logits, Thresholds())
    assert [d.colour for d in decoded.dishes] == [UNKNOWN]
    assert decoded.doubtful_peaks == 1


def test_split_vote_is_unknown() -> None:
    heat, geometry, classes, logits = _maps([(30, 24, 14.0, "white")])
    logits[LABELS.index("white"), :, 30:] = 0.0
    logits[LABELS.index("yellow"), :, 30:] = 8.0  # half-and-half
    decoded = decode(heat, geometry, classes, logits, Thresholds(min_confidence=0.8))
    assert decoded.dishes[0].colour == UNKNOWN
    assert decoded.dishes[0].confidence < 0.8


def test_membership_is_exclusive() -> None:
    member = membership(
        np.array([80.0, 100.0]),
        np.array([90.0, 90.0]),
        np.array([60.0, 60.0]),
        np.array([60.0, 60.0]),
    )
    assert member.shape == (2, GRID_HEIGHT, GRID_WIDTH)
    assert member.sum(axis=0).max() == 1.0
    assert member[0].sum() > 0
    assert member[1].sum() > 0


def _tray(colours: list[str]) -> TrayLabel:
    items = tuple(
        ItemLabel(c, c, "round", (100.0 * (i + 1), 100.0), 40.0, (0, 0, 1, 1), 0.5)
        for i, c in enumerate(colours)
    )
    return TrayLabel(0, "test", 640, 480, items, 5000.0, 1.0, "grey plastic")


def test_scoring_rules() -> None:
    label = _tray(["red", "white"])
    right = [Prediction("red", (102.0, 99.0)), Prediction("white", (199.0, 101.0))]
    swapped = [Prediction("white", (102.0, 99.0)), Prediction("red", (199.0, 101.0))]
    wrong = [Prediction("red", (102.0, 99.0)), Prediction("yellow", (199.0, 101.0))]
    far = [Prediction("red", (102.0, 99.0)), Prediction("white", (400.0, 300.0))]
    assert match_items(label.items, far) == [(0, 0)]
    assert TrayOutcome.score(label, right, False, 0.0).billed_exactly
    # Same bill, dishes mixed up: billed right in money, but not "exactly" item by item.
    mixed = TrayOutcome.score(label, swapped, False, 0.0)
    assert not mixed.wrongly_billed
    assert mixed.bill_matches_truth
    bad = TrayOutcome.score(label, wrong, False, 0.0)
    assert bad.wrongly_billed
    assert not bad.billed_exactly
    staffed = TrayOutcome.score(label, wrong, True, 0.0)
    assert not staffed.wrongly_billed
    assert not staffed.billed_exactly
    extra = TrayOutcome.score(label, far, False, 0.0)
    assert not extra.billed_exactly
    assert (extra.missed, extra.extra) == (1, 1)

    unknown = _tray(["red", UNKNOWN])
    billed_anyway = TrayOutcome.score(unknown, right, False, 0.0)
    assert billed_anyway.wrongly_billed
    summary = summarise([billed_anyway, TrayOutcome.score(label, right, False, 0.0)])
    assert summary.billable_trays == 1
    assert summary.billed_exactly == 1.0
    assert summary.wrongly_billed == 0.5
    assert summary.staff_unknown == 0.0


def test_colour_list_is_the_brief() -> None:
    assert COLOURS == ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")


def _crop_rows(*rows: tuple[str, float]) -> np.ndarray:
    """Crop-classifier probabilities, one row per peak: (label or "not a dish", probability),
    the rest spread evenly."""
    out = np.zeros((len(rows), CROP_CLASSES), np.float32)
    for k, (label, p) in enumerate(rows):
        index = NOT_A_DISH if label == "not a dish" else LABELS.index(label)
        out[k] = (1.0 - p) / (CROP_CLASSES - 1)
        out[k, index] = p
    return out


def test_crop_classifier_decides_and_head_weight_fuses() -> None:
    heat, geometry, classes, logits = _maps([(20, 20, 12.0, "red"), (40, 24, 12.0, "white")])
    crop = _crop_rows(("orange", 0.9), ("white", 0.95))
    alone = decode(heat, geometry, classes, logits, Thresholds(min_confidence=0.5), crop=crop)
    assert [d.colour for d in alone.dishes] == ["orange", "white"]
    assert alone.dishes[0].best == "orange"
    assert alone.dishes[0].confidence == pytest.approx(0.9 / (1.0 - 0.1 / 9), rel=1e-4)
    # With the first network's head weighed in, its sure "red" outvotes the crop's "orange".
    fused = decode(
        heat,
        geometry,
        classes,
        logits,
        Thresholds(min_confidence=0.5, head_weight=1.0),
        crop=crop,
    )
    assert [d.colour for d in fused.dishes] == ["red", "white"]
    assert fused.dishes[1].confidence > alone.dishes[1].confidence


def test_not_a_dish_drops_sure_and_doubtful_peaks() -> None:
    heat, geometry, classes, logits = _maps([(20, 20, 12.0, "red"), (45, 30, 10.0, "green")])
    heat[30, 45] = 0.2  # doubtful
    crop = _crop_rows(("not a dish", 0.97), ("not a dish", 0.9))
    kept = decode(heat, geometry, classes, logits, Thresholds(), crop=crop)
    assert [d.colour for d in kept.dishes] == [UNKNOWN]  # "not a dish" is no colour
    assert kept.dishes[0].not_dish == pytest.approx(0.97)
    assert kept.doubtful_peaks == 1
    assert staff_reasons(kept, Thresholds()) == (
        "a dish of unknown or doubtful colour",
        "something that may or may not be a dish",
    )
    dropped = decode(heat, geometry, classes, logits, Thresholds(not_a_dish=0.8), crop=crop)
    assert dropped.dishes == ()
    assert dropped.doubtful_peaks == 0
    assert staff_reasons(dropped, Thresholds()) == ("no dish found",)
    # Only the confident one goes.
    some = decode(heat, geometry, classes, logits, Thresholds(not_a_dish=0.95), crop=crop)
    assert some.dishes == ()
    assert some.doubtful_peaks == 1


def test_a_sure_peak_half_taken_for_no_dish_is_doubtful() -> None:
    heat, geometry, classes, logits = _maps([(20, 20, 12.0, "white"), (45, 30, 10.0, "red")])
    # The first peak: a napkin the crop classifier calls white but 60 % "not a dish".
    crop = _crop_rows(("white", 0.35), ("red", 0.97))
    crop[0, :] = 0.05 / (CROP_CLASSES - 2)
    crop[0, LABELS.index("white")] = 0.35
    crop[0, NOT_A_DISH] = 0.6
    t = Thresholds(min_confidence=0.5, not_a_dish=0.95)
    billed = decode(heat, geometry, classes, logits, t, crop=crop)
    assert [d.colour for d in billed.dishes] == ["white", "red"]
    assert billed.doubtful_peaks == 0
    unsure = decode(heat, geometry, classes, logits, replace(t, unsure_dish=0.5), crop=crop)
    assert [d.colour for d in unsure.dishes] == ["red"]
    assert unsure.doubtful_peaks == 1
    assert "something that may or may not be a dish" in staff_reasons(unsure, t)


def test_peaks_are_found_once_per_dish() -> None:
    heat, geometry, _, _ = _maps([(20, 20, 12.0, "red"), (40, 24, 12.0, "white")])
    heat[21, 20] = 0.5  # a second, weaker maximum inside the first dish's core
    heat[20, 19] = 0.0
    peaks = find_peaks(heat, geometry, 0.15)
    assert len(peaks) == 2
    assert list(peaks.score) == pytest.approx([0.9, 0.9])
    assert len(peaks.take(np.array([1]))) == 1
