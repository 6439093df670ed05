"""Food on the synthetic dishes: heaps, and scattered pieces with the dish between them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.traycolour.synth_food import food_colour, food_layer
from models.traycolour.synth_pieces import pieces


def _disc(radius: int) -> np.ndarray:
    """``rho`` (normalised radius, 1 on the outline) over a square around a round dish."""
    yy, xx = np.mgrid[-radius - 3 : radius + 4, -radius - 3 : radius + 4].astype(np.float32)
    return np.asarray(np.hypot(xx + 0.5, yy + 0.5) / radius, np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_pieces_cover_about_the_target_and_keep_off_the_rim(seed: int) -> None:
    rng = np.random.default_rng(seed)
    radius = int(rng.integers(30, 120))
    rho = _disc(radius)
    target = float(rng.uniform(0.3, 0.9))
    colours = [food_colour(rng, "green") for _ in range(2)]
    alpha, albedo, covered = pieces(
        rng, rho, interior=0.8, target=target, scale=radius, colours=colours
    )
    assert alpha.shape == rho.shape
    assert albedo.shape == (*rho.shape, 3)
    assert target - 0.12 <= covered <= target + 0.03
    # Measured as the caller measures it.
    inside = rho < 0.8
    assert covered == pytest.approx(float(((alpha > 0.5) & inside).mean() / inside.mean()))
    # Nothing on the rim beyond a pixel or two of the interior's edge.
    assert float(alpha[rho > 0.8 + 2.5 / radius].max()) == 0.0
    assert float(albedo.min()) >= 0.0
    assert float(albedo.max()) <= 1.0


def test_the_dish_shows_between_scattered_pieces() -> None:
    rng = np.random.default_rng(3)
    rho = _disc(100)
    alpha, _, covered = pieces(
        rng, rho, interior=0.8, target=0.5, scale=100, colours=[np.full(3, 0.2, np.float32)]
    )
    assert 0.38 <= covered <= 0.53
    # Unlike a heap, the bare dish inside the interior is many separate patches.
    bare = ((alpha < 0.5) & (rho < 0.75)).astype(np.uint8)
    patches, _ = cv2.connectedComponents(bare)
    assert patches > 20
    # And the food is many pieces.
    pieces_found, _ = cv2.connectedComponents((alpha >= 0.5).astype(np.uint8))
    assert pieces_found > 5


def test_no_interior_no_food() -> None:
    rng = np.random.default_rng(0)
    rho = _disc(20)
    alpha, _, covered = pieces(
        rng, rho, interior=0.0, target=0.6, scale=20, colours=[np.ones(3, np.float32)]
    )
    assert covered == 0.0
    assert float(alpha.max()) == 0.0


def test_food_layer_covers_about_its_target_whatever_the_layout() -> None:
    rho = _disc(80)
    inside = rho < 0.75
    for seed in range(30):
        rng = np.random.default_rng(seed)
        target = float(rng.uniform(0.3, 0.9))
        layer = food_layer(
            rng,
            rho,
            interior=0.75,
            target=target,
            dish_family="white",
            scale=80,
            centre=(83.0, 83.0),
        )
        assert layer.coverage == pytest.approx(
            float(((layer.alpha > 0.5) & inside).sum() / inside.sum())
        )
        assert abs(layer.coverage - target) < 0.2, (seed, target, layer.coverage)
        assert layer.albedo.shape == (*rho.shape, 3)
        assert np.isfinite(layer.albedo).all()
