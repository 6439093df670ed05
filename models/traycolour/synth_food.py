"""Food for the synthetic trays: heaps and scattered pieces of many colours and textures,
sauces and garnish.

Food colours are drawn on purpose from the dish colour families too (red braised pork on a red
plate, rice on a white one) so that the model has to look at the rim, not at the food.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.traycolour import pixel_ops as px
from models.traycolour.palette import (
    COLOURS,
    UNKNOWN_FAMILIES,
    hsv_to_rgb,
    sample_family,
    srgb_to_linear,
)
from models.traycolour.synth_light import smooth_noise
from models.traycolour.synth_pieces import pieces

# Typical canteen food colours, display sRGB 0..255.
_FOOD_RGB: tuple[tuple[int, int, int], ...] = (
    (242, 240, 228),  # rice
    (232, 205, 125),  # noodles
    (125, 45, 28),  # red braised pork
    (212, 45, 32),  # tomato
    (246, 204, 48),  # scrambled egg
    (48, 112, 36),  # greens
    (150, 192, 92),  # bok choy
    (238, 122, 35),  # carrot
    (84, 42, 92),  # aubergine
    (114, 40, 112),  # red cabbage
    (188, 32, 22),  # chili oil
    (222, 160, 42),  # curry
    (236, 226, 200),  # tofu
    (112, 82, 52),  # mushrooms
    (92, 52, 36),  # beef
    (240, 152, 120),  # shrimp
    (30, 36, 26),  # seaweed
    (24, 20, 22),  # black beans
    (66, 62, 128),  # blueberries
    (170, 110, 60),  # fried dough
    (200, 200, 190),  # fish
    (120, 150, 60),  # beans
)
FOOD_STYLES = ("smooth", "grainy", "chunks", "strands", "leafy", "dots")
#: Dishes whose food is many small pieces (``synth_pieces``), and whose food is a heap with
#: pieces scattered over and around it; the rest hold heaps only.
PIECES_SHARE = 0.3
MIXED_SHARE = 0.15


def food_colour(rng: np.random.Generator, dish_family: str) -> np.ndarray:
    """A food colour in linear RGB; often the dish's own family, to defeat colour shortcuts."""
    draw = rng.random()
    if draw < 0.2 and dish_family in (*COLOURS, *UNKNOWN_FAMILIES):
        rgb = sample_family(rng, dish_family)
    elif draw < 0.4:
        pool = (*COLOURS, *UNKNOWN_FAMILIES)
        rgb = sample_family(rng, pool[int(rng.integers(len(pool)))])
    elif draw < 0.85:
        base = np.array(_FOOD_RGB[int(rng.integers(len(_FOOD_RGB)))], dtype=np.float64) / 255.0
        jitter = base * rng.uniform(0.85, 1.12, 3)
        rgb = (float(jitter[0]), float(jitter[1]), float(jitter[2]))
    else:
        rgb = hsv_to_rgb(
            float(rng.uniform(0.0, 360.0)), float(rng.uniform(0.0, 1.0)), float(rng.uniform(0.1, 1))
        )
    clipped = np.clip(np.array(rgb), 0.0, 1.0)
    return np.array(
        srgb_to_linear((float(clipped[0]), float(clipped[1]), float(clipped[2]))),
        dtype=np.float32,
    )


@dataclass(frozen=True)
class FoodLayer:
    """Food of one dish, over the dish's region of interest."""

    alpha: np.ndarray  # 0..1
    albedo: np.ndarray  # linear RGB
    specular: np.ndarray
    coverage: float  # share of the interior actually covered
    layout: str = "heaps"  # or "pieces", "heap and pieces" (``labels.ItemLabel.food_layout``)


def _texture(
    rng: np.random.Generator, style: str, base: np.ndarray, *, h: int, w: int, grain: float
) -> np.ndarray:
    """A food texture of one style, linear RGB, over an h x w patch."""
    side = max(h, w)
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = base
    if style == "smooth":
        px.scale(img, 1.0 + 0.12 * smooth_noise(rng, h, w, 4.0))
    elif style == "grainy":
        cells = side / max(grain, 1.0)
        px.scale(img, 1.0 + 0.14 * smooth_noise(rng, h, w, cells))
    elif style == "chunks":
        n = max(4, int((side / max(grain * 3.0, 2.0)) ** 2 * 0.6))
        seeds = np.full((h, w), 255, dtype=np.uint8)
        pts = rng.integers(0, (w, h), size=(n, 2))
        seeds[pts[:, 1], pts[:, 0]] = 0
        dist, lab = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 3)
        tone = rng.uniform(0.7, 1.2, size=int(lab.max()) + 1).astype(np.float32)
        dmax = max(float(np.percentile(dist, 95)), 1.0)
        px.scale(img, tone[lab] * (1.0 - 0.3 * np.clip(dist / dmax, 0.0, 1.0) ** 2))
    elif style == "strands":
        img *= 0.8
        strand = np.clip(base * float(rng.uniform(1.05, 1.3)), 0.0, 1.0)
        strokes = np.zeros((h, w), dtype=np.uint8)
        thickness = max(1, round(grain * 0.4))
        for _ in range(int(side / max(grain, 1.0) * 1.5)):
            start = rng.uniform((0.0, 0.0), (w, h))
            steps = rng.normal(0.0, grain * 1.5, size=(8, 2)).cumsum(axis=0)
            curve = (start + steps).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(strokes, [curve], isClosed=False, color=255, thickness=thickness)
        a = strokes.astype(np.float32)[:, :, None] / 255.0
        img = img * (1.0 - a) + strand * a
    elif style == "leafy":
        img *= 0.7
        canvas = img.copy()
        for _ in range(int((side / max(grain * 4.0, 2.0)) ** 2 * 0.8) + 2):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(grain * rng.uniform(2.0, 5.0)) + 1, int(grain * rng.uniform(1.0, 2.5)) + 1)
            tone = (base * rng.uniform(0.7, 1.3, 3)).astype(np.float32)
            colour = (float(tone[0]), float(tone[1]), float(tone[2]))
            cv2.ellipse(canvas, c, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
        img = canvas
    else:  # dots: peas, corn, sesame on a sauce
        dot = food_colour(rng, "yellow" if rng.random() < 0.5 else "green")
        canvas = img.copy()
        radius = max(1, round(grain * 0.7))
        n = int((side / max(grain * 2.5, 2.0)) ** 2)
        for x, y in rng.integers(0, (w, h), size=(n, 2)):
            cv2.circle(
                canvas, (int(x), int(y)), radius, (float(dot[0]), float(dot[1]), float(dot[2])), -1
            )
        img = canvas
    return np.clip(img, 0.0, 1.0)


def _blob_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    centre: tuple[float, float],
    reach: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Random bumpy blobs: the max of their fields, which blob owns each pixel, and how many."""
    h, w = shape
    # The blob field is smooth: build it on a coarser grid for big dishes and enlarge it.
    step = 2 if max(h, w) > 90 else 1
    gh, gw = (h + step - 1) // step, (w + step - 1) // step
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32) * step
    cx, cy = centre
    field: np.ndarray = np.full((gh, gw), -1e3, dtype=np.float32)
    owner: np.ndarray = np.zeros((gh, gw), dtype=np.int32)
    n_blobs = int(rng.integers(1, 5))
    for k in range(n_blobs):
        r0 = float(rng.uniform(0.0, 0.55)) * reach
        a0 = float(rng.uniform(-np.pi, np.pi))
        bx, by = cx + r0 * np.cos(a0), cy + r0 * np.sin(a0)
        radius = float(rng.uniform(0.25, 0.7)) * reach
        dx, dy = xs - bx, ys - by
        theta = np.arctan2(dy, dx)
        wobble = np.ones_like(theta)
        for harmonic in range(2, 6):
            wobble += float(rng.uniform(0.0, 0.3 / harmonic * 2)) * np.cos(
                harmonic * theta + float(rng.uniform(0.0, 2 * np.pi))
            )
        blob = 1.0 - np.sqrt(dx * dx + dy * dy) / (radius * np.clip(wobble, 0.3, None))
        owner = np.where(blob > field, k, owner)
        field = np.maximum(field, blob)
    if step > 1:
        field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
        owner = cv2.resize(owner.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    return field, owner, n_blobs


def food_layer(
    rng: np.random.Generator,
    rho: np.ndarray,
    *,
    interior: float,
    target: float,
    dish_family: str,
    scale: float,
    centre: tuple[float, float],
) -> FoodLayer:
    """Food covering about the share ``target`` of the interior ``rho < interior`` of a dish:
    a few heaps (``_heaps``), many small pieces with the dish between them
    (``synth_pieces.pieces``), or pieces scattered over and around a heap."""

    def heaps(share: float) -> FoodLayer:
        return _heaps(
            rng,
            rho,
            interior=interior,
            target=share,
            dish_family=dish_family,
            scale=scale,
            centre=centre,
        )

    layout = rng.random()
    if layout >= PIECES_SHARE + MIXED_SHARE:
        return heaps(target)
    colours = [food_colour(rng, dish_family) for _ in range(int(rng.integers(1, 4)))]
    if layout < PIECES_SHARE:
        alpha, albedo, covered = pieces(
            rng, rho, interior=interior, target=target, scale=scale, colours=colours
        )
        return FoodLayer(alpha, albedo, np.zeros_like(alpha), covered, "pieces")
    heap = heaps(target * float(rng.uniform(0.3, 0.7)))
    # Pieces land anywhere on the interior, on the heap too: aim for the union to cover target.
    rest = 1.0 - (1.0 - target) / max(1.0 - heap.coverage, 1e-3)
    alpha, albedo, _ = pieces(
        rng,
        rho,
        interior=interior,
        target=float(np.clip(rest, 0.05, 1.0)),
        scale=scale,
        colours=colours,
    )
    union = 1.0 - (1.0 - heap.alpha) * (1.0 - alpha)
    mixed = px.times(albedo, alpha) + px.times(heap.albedo, heap.alpha * (1.0 - alpha))
    px.divide(mixed, np.maximum(union, 1e-6))
    inside = rho < interior
    covered = float(((union > 0.5) & inside).sum()) / max(int(inside.sum()), 1)
    return FoodLayer(
        union.astype(np.float32),
        mixed.astype(np.float32),
        (heap.specular * (1.0 - alpha)).astype(np.float32),
        covered,
        "heap and pieces",
    )


def _heaps(
    rng: np.random.Generator,
    rho: np.ndarray,
    *,
    interior: float,
    target: float,
    dish_family: str,
    scale: float,
    centre: tuple[float, float],
) -> FoodLayer:
    """Food heaped in a few blobs over the share ``target`` of the interior.

    The food outline is a level set of a random field (bumpy blobs plus noise), cut at the
    quantile that gives exactly the wanted coverage.
    """
    h, w = rho.shape
    inside = rho < interior
    n_inside = int(inside.sum())
    reach = interior * scale
    field, owner, n_blobs = _blob_field(rng, (h, w), centre, reach)
    field += float(rng.uniform(0.05, 0.25)) * smooth_noise(rng, h, w, float(rng.uniform(3.0, 9.0)))
    # Food keeps off the rim: push the field down towards the interior's edge.
    field -= 0.8 * np.clip(rho / max(interior, 1e-3), 0.0, 1.2) ** 6
    if n_inside == 0:
        empty = np.zeros((h, w), dtype=np.float32)
        return FoodLayer(empty, np.zeros((h, w, 3), np.float32), empty, 0.0)
    level = float(np.quantile(field[inside], 1.0 - target))
    soft = np.clip((field - level) * reach * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)
    soft *= np.clip((interior - rho) * scale + 0.5 + float(rng.uniform(0.0, 2.0)), 0.0, 1.0)
    covered = float(((soft > 0.5) & inside).sum()) / n_inside

    grain = max(1.5, float(rng.uniform(0.02, 0.06)) * scale)
    albedo = np.zeros((h, w, 3), dtype=np.float32)
    visible = soft > 0.0
    for k in range(n_blobs):
        style = FOOD_STYLES[int(rng.integers(len(FOOD_STYLES)))]
        base = food_colour(rng, dish_family)
        region = (owner == k) & visible
        if not region.any():
            continue
        # Texture only the part of the dish this blob owns.
        rows = np.flatnonzero(region.any(axis=1))
        cols = np.flatnonzero(region.any(axis=0))
        window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        sub_h, sub_w = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
        texture = _texture(rng, style, base, h=int(sub_h), w=int(sub_w), grain=grain)
        albedo[window] = np.where(region[window][:, :, None], texture, albedo[window])
    # Rounded food is darker at its edges, where it meets the dish.
    depth = np.clip((field - level) * 4.0, 0.0, 1.0)
    px.scale(albedo, 0.7 + 0.3 * depth)
    specular = np.zeros((h, w), dtype=np.float32)
    if rng.random() < 0.5:  # glossy sauce
        glints = smooth_noise(rng, h, w, float(rng.uniform(8.0, 20.0)))
        specular = (np.clip(glints - 1.2, 0.0, None) * float(rng.uniform(0.5, 2.0))).astype(
            np.float32
        )
        specular *= soft
    return FoodLayer(soft, albedo, specular, covered)


def garnish(
    rng: np.random.Generator, h: int, w: int, count: int, size: float
) -> tuple[np.ndarray, np.ndarray]:
    """A few small bits (scallion, chili, sesame): alpha mask and premultiplied linear RGB."""
    mask = np.zeros((h, w), dtype=np.uint8)
    colour = np.zeros((h, w, 3), dtype=np.float32)
    palette = ((60, 150, 40), (200, 30, 20), (245, 240, 220), (20, 20, 20), (250, 200, 40))
    for _ in range(count):
        rgb = palette[int(rng.integers(len(palette)))]
        lin = srgb_to_linear((rgb[0] / 255, rgb[1] / 255, rgb[2] / 255))
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (max(1, int(size * rng.uniform(0.5, 1.5))), max(1, int(size * rng.uniform(0.3, 1))))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(mask, c, axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
        cv2.ellipse(colour, c, axes, angle, 0, 360, lin, -1, cv2.LINE_8)
    alpha = mask.astype(np.float32) / 255.0
    return alpha, px.times(colour, alpha)
