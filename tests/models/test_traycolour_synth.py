"""The synthetic tray generators: determinism, label consistency, seed separation."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from models.traycolour import seeds
from models.traycolour.palette import FAMILIES, LABELS, SEG_FIRST_DISH, seg_class
from models.traycolour.synth import TRAINING, render_tray, render_tray_with_classes
from models.traycolour.synth_alt import render_alt_tray
from models.traycolour.synth_tray import TrayPlacement, draw_receipt

FOOD_LAYOUTS = {"heaps", "pieces", "heap and pieces"}


def test_same_seed_same_bytes() -> None:
    first, label_a = render_tray(2_500_001)
    second, label_b = render_tray(2_500_001)
    assert first.tobytes() == second.tobytes()
    assert label_a == label_b
    other, _ = render_tray(2_500_002)
    assert other.shape != first.shape or other.tobytes() != first.tobytes()


def test_alt_renderer_is_deterministic_too() -> None:
    first, label_a = render_alt_tray(3_500_001, size=(320, 240))
    second, label_b = render_alt_tray(3_500_001, size=(320, 240))
    assert first.tobytes() == second.tobytes()
    assert label_a == label_b
    assert label_a.renderer == "synth_alt"


@pytest.mark.parametrize("seed", range(2_600_000, 2_600_012))
def test_labels_agree_with_the_image(seed: int) -> None:
    options = TRAINING if seed % 2 else None
    frame, label, classes = render_tray_with_classes(seed, options)
    h, w = frame.shape[:2]
    assert frame.dtype == np.uint8
    assert frame.shape == (label.height, label.width, 3)
    assert classes.shape == (h, w)
    assert 1 <= len(label.items) <= 6
    for item in label.items:
        x0, y0, x1, y1 = item.box
        cx, cy = item.centre
        assert 0 <= x0 < cx < x1 <= w
        assert 0 <= y0 < cy < y1 <= h
        assert 0.3 * min(x1 - x0, y1 - y0) < item.radius < 0.75 * max(x1 - x0, y1 - y0)
        assert item.colour in LABELS
        assert 0.25 <= item.food_coverage <= 0.95
        assert item.food_layout in FOOD_LAYOUTS
        window = classes[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
        if item.family in FAMILIES:
            # The dish's own colour class must show in its box: its rim is visible.
            own = float((window == seg_class(item.colour)).mean())
            assert own > 0.05, (item, own)
        else:
            assert float((window >= SEG_FIRST_DISH).mean()) > 0.05


def test_food_lies_in_heaps_and_in_pieces() -> None:
    layouts = Counter(
        item.food_layout
        for seed in range(2_600_100, 2_600_140)
        for item in render_tray(seed, size=(320, 240))[1].items
    )
    assert set(layouts) == FOOD_LAYOUTS
    # About 55 % heaps, 30 % pieces, 15 % both (synth_food's shares), give or take.
    total = sum(layouts.values())
    assert 0.35 < layouts["heaps"] / total < 0.75
    assert 0.15 < layouts["pieces"] / total < 0.45
    # The other renderer draws every dish's food as pieces.
    assert {item.food_layout for item in render_alt_tray(3_500_002)[1].items} == {"pieces"}


def test_rendered_colours_look_like_their_labels() -> None:
    # Under nominal light a white dish's visible surface is brighter than a black one's.
    means: dict[str, list[float]] = {"white": [], "black": []}
    for seed in range(2_700_000, 2_700_040):
        frame, _, classes = render_tray_with_classes(seed, size=(640, 480))
        for name, found in means.items():
            mask = classes == seg_class(name)
            if mask.sum() > 200:
                found.append(float(frame[mask].mean()))
    assert means["white"]
    assert means["black"]
    assert min(means["white"]) > max(means["black"])


def test_held_out_seeds_never_touch_training() -> None:
    assert not set(seeds.TRAIN) & set(seeds.VALIDATION)
    seeds.check_held_out(seeds.HELD_OUT_START, 2000)
    with pytest.raises(ValueError, match="training"):
        seeds.check_held_out(500, 10)
    with pytest.raises(ValueError, match="validation"):
        seeds.check_held_out(seeds.VALIDATION[0] + 5, 10)


def test_a_receipt_is_paper_with_print_inside_its_box() -> None:
    img = np.full((300, 400, 3), 0.2, np.float32)
    specular = np.ones((300, 400), np.float32)
    tray = TrayPlacement(200.0, 150.0, 180.0, 130.0, 0.1, 10.0)
    x0, y0, x1, y1 = draw_receipt(np.random.default_rng(4), img, specular, tray)
    paper = img.mean(axis=2) > 0.5
    assert paper.sum() > 500
    ys, xs = np.nonzero(paper)
    assert x0 - 1 <= xs.min()
    assert xs.max() <= x1 + 1
    assert y0 - 1 <= ys.min()
    assert ys.max() <= y1 + 1
    # Rows of print: dark pixels among the paper, inside the box.
    inside = img[int(y0) : int(y1), int(x0) : int(x1)].mean(axis=2)
    assert ((inside > 0.05) & (inside < 0.4)).sum() > 50
    # Matte: the tray's sheen is gone where the paper lies (away from its anti-aliased edge).
    within = cv2.erode(paper.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert float(specular[within].max()) < 0.01
