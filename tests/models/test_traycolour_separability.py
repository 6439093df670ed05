"""The separability study's figures: one row per solid-coloured dish, from the true pixels.

The classifier half needs the training extra (torch), which CI does not install; the figures
are what it rests on, and they are checked here against the renderer's own labels.
"""

from __future__ import annotations

import numpy as np

from models.traycolour import separability
from models.traycolour.synth import render_tray


def test_figures_come_from_every_solid_dish_and_only_those() -> None:
    first, count = 2_600_000, 6
    figures = separability.collect(first, count, training=False, workers=1)
    solid = [
        item.family
        for seed in range(first, first + count)
        for item in render_tray(seed)[1].items
        if item.family not in ("patterned", "half-and-half")
    ]
    # A dish buried under food has no visible surface and gives no row; these trays have none.
    assert sorted(f.family for f in figures) == sorted(solid)
    widths = {f.features.shape for f in figures}
    assert widths == {(27,)}
    assert all(np.isfinite(f.features).all() for f in figures)


def test_a_white_dish_is_brighter_than_the_tray_around_it_and_a_black_one_darker() -> None:
    figures = separability.collect(2_600_000, 40, training=False, workers=1)
    # Features 18..20 are the dish's log ratio to the tray around it (within two radii), per
    # channel. (Not the frame-wide background, which also holds the dark slot around the tray.)
    white = [f.features[18:21].mean() for f in figures if f.family == "white"]
    black = [f.features[18:21].mean() for f in figures if f.family == "black"]
    assert white
    assert black
    assert min(white) > 0.0
    # Nearly every black dish: a glossy black bowl under 90 % food can show little more than
    # the lit ring of its lip (seed 2,600,005 does), which is brighter than the tray.
    assert float(np.median(black)) < -1.0
    assert np.mean(np.array(black) < 0.0) >= 0.9
