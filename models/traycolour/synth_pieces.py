"""Food as many small pieces with the dish showing between them: rice grains, chopped greens,
noodles, diced meat, peas.

``synth_food.food_layer`` draws food as a few solid heaps; a stir-fry or a scattering of rice
leaves gaps all over the interior, where the dish's own colour shows between pieces of other
colours. Without such trays a dish seen through scattered food looks, to a model, like a
patterned dish (two colours in small patches), and is sent to staff. The pieces keep to the
interior, as heaped food does: a pattern that reaches the rim is the dish's, food is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import cv2
import numpy as np

from models.traycolour import pixel_ops as px
from models.traycolour.synth_light import smooth_noise

if TYPE_CHECKING:
    from collections.abc import Callable

#: Piece shapes and how often a kind of piece takes each.
SHAPES: Final = ("grain", "chunk", "strand", "leaf", "dot")
_SHAPE_WEIGHTS: Final = np.array([0.25, 0.25, 0.2, 0.2, 0.1])
#: Rounds of drawing before giving up on the wanted coverage (pieces pile on each other).
_ROUNDS: Final = 12


def _ellipse(
    long: tuple[float, float], short: tuple[float, float]
) -> Callable[[np.random.Generator, np.ndarray, tuple[int, int], float, float], None]:
    """A piece drawn as a filled ellipse whose half-axes are drawn from ``long`` and ``short``
    times its size, at any angle."""

    def draw(
        rng: np.random.Generator,
        target: np.ndarray,
        centre: tuple[int, int],
        size: float,
        value: float,
    ) -> None:
        axes = (
            max(1, round(size * rng.uniform(*long))),
            max(1, round(size * rng.uniform(*short))),
        )
        cv2.ellipse(target, centre, axes, float(rng.uniform(0, 180)), 0, 360, value, -1)

    return draw


_grain = _ellipse((1.0, 1.8), (0.4, 0.8))
_leaf = _ellipse((1.8, 3.5), (0.8, 1.6))


def _chunk(
    rng: np.random.Generator, target: np.ndarray, centre: tuple[int, int], size: float, value: float
) -> None:
    corners = int(rng.integers(4, 8))
    angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, corners))
    radii = size * rng.uniform(1.2, 2.6, corners)
    points = np.stack(
        [centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], axis=1
    )
    cv2.fillPoly(target, [points.astype(np.int32)], value)


def _strand(
    rng: np.random.Generator, target: np.ndarray, centre: tuple[int, int], size: float, value: float
) -> None:
    steps = rng.normal(0.0, size * 1.6, (int(rng.integers(3, 7)), 2)).cumsum(axis=0)
    curve = (np.array(centre, np.float64) + steps).astype(np.int32).reshape(-1, 1, 2)
    thickness = max(1, round(size * rng.uniform(0.4, 0.9)))
    cv2.polylines(target, [curve], isClosed=False, color=value, thickness=thickness)


def _dot(
    rng: np.random.Generator, target: np.ndarray, centre: tuple[int, int], size: float, value: float
) -> None:
    cv2.circle(target, centre, max(1, round(size * rng.uniform(0.6, 1.1))), value, -1)


_DRAW: Final[dict[str, Callable[..., None]]] = {
    "grain": _grain,
    "chunk": _chunk,
    "strand": _strand,
    "leaf": _leaf,
    "dot": _dot,
}
#: Rough area of one piece in units of size squared, to guess how many pieces a round needs.
_AREA: Final = {"grain": 4.4, "chunk": 11.0, "strand": 7.0, "leaf": 12.0, "dot": 2.2}


def pieces(
    rng: np.random.Generator,
    rho: np.ndarray,
    *,
    interior: float,
    target: float,
    scale: float,
    colours: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, float]:
    """Pieces over the interior ``rho < interior`` until about ``target`` of it is covered.

    ``colours`` (linear RGB) gives one kind of piece each, with its own shape and size.
    Returns the pieces' coverage (0..1, anti-aliased), their albedo (linear RGB) and the share
    of the interior they cover.
    """
    h, w = rho.shape
    inside = rho < interior
    n_inside = int(inside.sum())
    if n_inside == 0 or not colours:
        return np.zeros((h, w), np.float32), np.zeros((h, w, 3), np.float32), 0.0
    # Pieces are placed by their centre, so centres keep a little inside the interior's edge.
    room = np.flatnonzero((rho < interior * 0.93).ravel())
    if len(room) == 0:
        room = np.flatnonzero(inside.ravel())
    kinds = [
        (
            str(SHAPES[int(rng.choice(len(SHAPES), p=_SHAPE_WEIGHTS))]),
            max(1.0, float(rng.uniform(0.02, 0.07)) * scale),
            colour,
        )
        for colour in colours
    ]
    index = np.zeros((h, w), np.int32)  # which piece owns a pixel (0: none), the last drawn
    tones: list[np.ndarray] = [np.zeros(3, np.float32)]
    area = float(np.mean([_AREA[shape] * size * size for shape, size, _ in kinds]))
    for _ in range(_ROUNDS):
        covered = float((index[inside] > 0).mean())
        if covered >= target * 0.97:
            break
        # Pieces overlap more as the interior fills: draw a part of what seems missing, look
        # again, and stop near the target rather than overshoot it.
        needed = (target - covered) * n_inside / area
        for _piece in range(int(np.clip(needed * 0.7, 1, 4000))):
            shape, size, colour = kinds[int(rng.integers(len(kinds)))]
            flat = int(room[int(rng.integers(len(room)))])
            _DRAW[shape](rng, index, (flat % w, flat // w), size, len(tones))
            tone = colour * rng.uniform(0.75, 1.2) * rng.uniform(0.92, 1.08, 3)
            tones.append(tone.astype(np.float32))
    palette = np.stack(tones)
    albedo = palette[index]
    # Pieces are rounded: darker where they meet the dish, lit on top.
    solid = (index > 0).astype(np.uint8)
    depth = cv2.distanceTransform(solid, cv2.DIST_L2, 3)
    px.scale(albedo, 0.72 + 0.28 * np.clip(depth / max(kinds[0][1], 1.0), 0.0, 1.0))
    px.scale(albedo, 1.0 + 0.08 * smooth_noise(rng, h, w, max(h, w) / max(2.0 * kinds[0][1], 2.0)))
    # Soft edges (the drawing above is aliased), and nothing beyond the interior's rim.
    alpha = cv2.GaussianBlur(solid.astype(np.float32), (3, 3), 0.6)
    alpha *= np.clip((interior - rho) * scale + 0.5 + float(rng.uniform(0.0, 1.5)), 0.0, 1.0)
    coverage = float(((alpha > 0.5) & inside).sum()) / n_inside
    return alpha.astype(np.float32), np.clip(albedo, 0.0, 1.0).astype(np.float32), coverage
