"""Synthetic canteen trays seen from above, with labels: the training and held-out data.

``render_tray(seed)`` draws one tray. The same seed always gives the same bytes: every random
choice comes from one ``numpy.random.Generator`` seeded with the renderer's name and the seed.
What varies: tray material, position and rotation; 1 to 6 round plates, bowls, oval and square
dishes of many sizes and rim widths, touching but never stacked; eight billable colour families
in many shades, and unknown ones (pink, brown, grey, cyan, patterned, half-and-half); food of
many colours and textures over 30-90 % of each interior, in heaps or scattered pieces, sauces,
garnish, chopsticks, spoons, napkins and receipts; colour temperature, brightness, light
gradients, vignetting, soft and drop shadows, specular highlights; lens blur, sensor noise,
tone curve and JPEG.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import cv2
import numpy as np

from models.traycolour import pixel_ops as px
from models.traycolour.labels import ItemLabel, TrayLabel
from models.traycolour.palette import SEG_BACKGROUND, SEG_FOOD, TYPICAL, UNIFORM
from models.traycolour.synth_dish import DishSpec, choose_family, coverage, geometry, surface
from models.traycolour.synth_food import food_colour, food_layer, garnish
from models.traycolour.synth_light import (
    expose_and_encode,
    illumination_field,
    smooth_noise,
    soft_blur,
    white_balance_gains,
)
from models.traycolour.synth_tray import (
    TrayPlacement,
    draw_cutlery,
    draw_napkin,
    draw_receipt,
    draw_tray,
    paint,
    slot_background,
    tray_material,
)

RENDERER = "synth"
#: Share of trays with a till receipt on them (``synth_tray.draw_receipt``).
RECEIPTS = 0.3
#: Longest side of the drawn scene, see ``_render``.
SCENE_SIDE = 448
#: Frame sizes of the held-out evaluation: mostly the checkout camera's 640x480, some others.
EVAL_SIZES: tuple[tuple[tuple[int, int], float], ...] = (
    ((640, 480), 0.6),
    ((320, 240), 0.08),
    ((800, 600), 0.1),
    ((1280, 720), 0.1),
    ((1920, 1080), 0.05),
    ((480, 480), 0.07),
)
#: Training frames are smaller on average so that rendering fits the build's time budget.
TRAIN_SIZES: tuple[tuple[tuple[int, int], float], ...] = (
    ((320, 240), 0.15),
    ((400, 300), 0.15),
    ((480, 360), 0.15),
    ((560, 420), 0.1),
    ((640, 480), 0.2),
    ((640, 360), 0.1),
    ((426, 240), 0.05),
    ((480, 480), 0.05),
    ((720, 480), 0.05),
)


@dataclass(frozen=True)
class RenderOptions:
    """Knobs of the generator; the defaults are the held-out evaluation's distribution."""

    sizes: tuple[tuple[tuple[int, int], float], ...] = EVAL_SIZES
    kelvin: tuple[float, float] = (3000.0, 6500.0)
    brightness: tuple[float, float] = (0.6, 1.4)
    unknown_rate: float = 0.08  # share of dishes of an unknown colour or pattern
    #: How dish shades fill their family's box (``palette.sample_box``): mostly typical shades.
    shades: float = TYPICAL
    #: Tray colours beyond each material's range (``synth_tray.tray_material``).
    tray_widen: float = 0.0


#: Training sees slightly wider light and trays than the evaluation, so that the edges of the
#: ranges are no cliff, and every shade of a family's box as often as any other.
TRAINING = RenderOptions(
    sizes=TRAIN_SIZES,
    kelvin=(2800.0, 7000.0),
    brightness=(0.5, 1.5),
    unknown_rate=0.12,
    shades=UNIFORM,
    tray_widen=0.25,
)


def rng_for(renderer: str, seed: int) -> np.random.Generator:
    """The generator of one tray: the renderer's name keeps its streams apart from others'."""
    return np.random.default_rng([zlib.crc32(renderer.encode()), seed])


def _pick_size(
    rng: np.random.Generator, sizes: tuple[tuple[tuple[int, int], float], ...]
) -> tuple[int, int]:
    weights = np.array([w for _, w in sizes])
    return sizes[int(rng.choice(len(sizes), p=weights / weights.sum()))][0]


def _place_tray(rng: np.random.Generator, width: int, height: int) -> TrayPlacement:
    aspect = float(rng.uniform(1.25, 1.55))
    # The camera is fixed over the slot, so the tray fills most of the frame; now and then less.
    fill = float(rng.uniform(0.8, 0.97)) if rng.random() < 0.9 else float(rng.uniform(0.7, 0.8))
    portrait = rng.random() < 0.12
    frame_aspect = width / height if not portrait else height / width
    long_side = width if not portrait else height
    short_side = height if not portrait else width
    if frame_aspect > aspect:
        half_h = fill * short_side / 2
        half_w = half_h * aspect
    else:
        half_w = fill * long_side / 2
        half_h = half_w / aspect
    angle = float(np.radians(rng.uniform(-6.0, 6.0))) + (np.pi / 2 if portrait else 0.0)
    cx = width / 2 + float(rng.uniform(-0.05, 0.05)) * width
    cy = height / 2 + float(rng.uniform(-0.05, 0.05)) * height
    corner = float(rng.uniform(0.03, 0.12)) * 2 * half_h
    return TrayPlacement(cx, cy, half_w, half_h, angle, corner)


def _dish_shape(rng: np.random.Generator, short: float, shrink: float) -> dict[str, float | str]:
    """Size and build of one dish, before placement; lengths in pixels."""
    shape = ("round", "bowl", "oval", "square")[int(rng.choice(4, p=[0.38, 0.3, 0.16, 0.16]))]
    small = rng.random() < 0.15
    if shape == "round":
        d = rng.uniform(0.18, 0.26) if small else rng.uniform(0.3, 0.62)
        a = b = float(d) * short / 2
        power, rim = 2.0, float(rng.uniform(0.1, 0.35))
    elif shape == "bowl":
        d = rng.uniform(0.18, 0.26) if small else rng.uniform(0.28, 0.48)
        a = b = float(d) * short / 2
        power, rim = 2.0, float(rng.uniform(0.05, 0.16))
    elif shape == "oval":
        d = rng.uniform(0.24, 0.32) if small else rng.uniform(0.4, 0.7)
        a = float(d) * short / 2
        b = a * float(rng.uniform(0.55, 0.85))
        power, rim = 2.0, float(rng.uniform(0.1, 0.3))
    else:
        d = rng.uniform(0.18, 0.24) if small else rng.uniform(0.26, 0.5)
        a = float(d) * short / 2
        b = a * float(rng.uniform(0.75, 1.0))
        power, rim = float(rng.uniform(3.5, 10.0)), float(rng.uniform(0.1, 0.3))
    # Crowded trays hold smaller plates and bowls, but a sauce dish is small anyway.
    scale = max(shrink, 0.9) if small else shrink
    return {
        "shape": shape,
        "a": a * scale,
        "b": b * scale,
        "power": power,
        "rim": rim,
        "floor": float(rng.uniform(0.4, 0.68)),
    }


def _superellipse_mask(
    spec: DishSpec, scale: float, height: int, width: int, grow: float = 0.0
) -> tuple[np.ndarray, int, int]:
    """Boolean mask of a dish on a grid ``scale`` times the frame, with its top-left corner."""
    x0, y0, x1, y1 = spec.box()
    gx0, gy0 = int(np.floor(x0 * scale)) - 1, int(np.floor(y0 * scale)) - 1
    gx1, gy1 = int(np.ceil(x1 * scale)) + 1, int(np.ceil(y1 * scale)) + 1
    ys, xs = np.mgrid[gy0:gy1, gx0:gx1].astype(np.float32)
    dx = (xs + 0.5) / scale - spec.cx
    dy = (ys + 0.5) / scale - spec.cy
    ca, sa = np.cos(spec.angle), np.sin(spec.angle)
    xr = dx * ca + dy * sa
    yr = -dx * sa + dy * ca
    rho = (np.abs(xr / spec.a) ** spec.power + np.abs(yr / spec.b) ** spec.power) ** (
        1 / spec.power
    )
    inside = rho <= 1.0 + grow
    del height, width
    return inside, gx0, gy0


def _layout(
    rng: np.random.Generator, frame: tuple[int, int], tray: TrayPlacement, n: int, lip: float
) -> list[DishSpec]:
    """Place ``n`` dishes on the tray and in the frame, without overlap (touching allowed).

    Dishes shrink when the tray is too crowded for them.
    """
    scale = 0.25
    gw, gh = int(frame[0] * scale), int(frame[1] * scale)
    inner = TrayPlacement(
        tray.cx * scale,
        tray.cy * scale,
        (tray.half_w - lip) * scale,
        (tray.half_h - lip) * scale,
        tray.angle,
        max(tray.corner - lip, 1.0) * scale,
    )
    allowed = np.zeros((gh, gw), dtype=np.uint8)
    cv2.fillPoly(allowed, [inner.outline()], 1, cv2.LINE_8, 4)
    allowed[:2, :] = 0  # keep a margin to the frame's edge
    allowed[-2:, :] = 0
    allowed[:, :2] = 0
    allowed[:, -2:] = 0
    short = 2 * tray.half_h
    crowding = (1.0, 1.0, 0.95, 0.88, 0.82, 0.77)[n - 1]
    for attempt in range(12):
        shrink = crowding * 0.94**attempt
        occupied = np.zeros_like(allowed)
        placed: list[DishSpec] = []
        for _ in range(n):
            build = _dish_shape(rng, short, shrink)
            for _try in range(60):
                u = float(rng.uniform(-1.0, 1.0)) * tray.half_w
                v = float(rng.uniform(-1.0, 1.0)) * tray.half_h
                cx, cy = tray.to_frame(u, v)
                spec = DishSpec(
                    shape=str(build["shape"]),
                    cx=cx,
                    cy=cy,
                    a=float(build["a"]),
                    b=float(build["b"]),
                    angle=float(rng.uniform(0, np.pi)),
                    power=float(build["power"]),
                    rim=float(build["rim"]),
                    floor=float(build["floor"]),
                )
                mask, gx0, gy0 = _superellipse_mask(spec, scale, gh, gw)
                mh, mw = mask.shape
                if gx0 < 0 or gy0 < 0 or gx0 + mw > gw or gy0 + mh > gh:
                    continue
                window = (slice(gy0, gy0 + mh), slice(gx0, gx0 + mw))
                area = int(mask.sum())
                if int((mask & (allowed[window] == 0)).sum()) > 0.01 * area:
                    continue
                if int((mask & (occupied[window] > 0)).sum()) > 0.02 * area:
                    continue
                occupied[window] |= mask.astype(np.uint8)
                placed.append(spec)
                break
            else:
                break
        if len(placed) == n:
            return placed
    return placed


def _draw_dish(
    rng: np.random.Generator,
    img: np.ndarray,
    specular: np.ndarray,
    classes: np.ndarray,
    *,
    spec: DishSpec,
    family: str,
    shades: float,
) -> ItemLabel:
    h, w = img.shape[:2]
    bx0, by0, bx1, by1 = spec.box()
    x0, y0 = max(int(bx0) - 2, 0), max(int(by0) - 2, 0)
    x1, y1 = min(int(np.ceil(bx1)) + 2, w), min(int(np.ceil(by1)) + 2, h)
    geo = geometry(spec, x0, y0, x1 - x0, y1 - y0)
    alpha = coverage(geo.rho, 1.0, geo.scale)
    surf = surface(rng, spec, geo, family, shades)
    dish = surf.albedo
    interior = 1.0 - spec.rim
    food = food_layer(
        rng,
        geo.rho,
        interior=interior,
        target=float(rng.uniform(0.3, 0.9)),
        dish_family=family,
        scale=geo.scale,
        centre=(spec.cx - x0 - 0.5, spec.cy - y0 - 0.5),
    )
    paint(dish, food.alpha, food.albedo)
    food_mask = food.alpha > 0.5
    rh, rw = geo.rho.shape
    if rng.random() < 0.25:  # a sauce smear on the visible inside
        smear = np.clip(smooth_noise(rng, rh, rw, 4.0) * 2.0 - 0.6, 0.0, 1.0)
        smear *= (geo.rho < interior - 0.03).astype(np.float32) * float(rng.uniform(0.4, 0.85))
        paint(dish, smear.astype(np.float32), food_colour(rng, "brown"))
        food_mask |= smear > 0.3
    bits = int(rng.integers(0, 9))
    if bits:
        g_alpha, g_colour = garnish(rng, rh, rw, bits, max(1.0, 0.04 * geo.scale))
        # Garnish lands on the food, now and then a bit of it on the rim.
        keep = food.alpha if rng.random() < 0.8 else np.maximum(food.alpha, alpha * 0.9)
        g_alpha *= keep
        px.scale(dish, 1.0 - g_alpha)
        dish += px.times(g_colour, keep)
        food_mask |= g_alpha > 0.5
    window = (slice(y0, y1), slice(x0, x1))
    paint(img[window], alpha, dish)
    # The dish hides whatever sheen the tray had under it.
    spec_roi = specular[window]
    spec_roi *= 1.0 - alpha
    spec_roi += alpha * (surf.specular * (1.0 - food.alpha) + food.specular)
    inside = alpha > 0.5
    roi_classes = classes[window]
    roi_classes[inside] = np.where(food_mask, SEG_FOOD, surf.classes)[inside]
    return ItemLabel(
        colour=surf.colour,
        family=surf.family,
        shape=spec.shape,
        centre=(spec.cx, spec.cy),
        radius=spec.equivalent_radius(),
        box=spec.box(),
        food_coverage=food.coverage,
        food_layout=food.layout,
    )


def _render(
    seed: int, options: RenderOptions, size: tuple[int, int] | None
) -> tuple[np.ndarray, TrayLabel, np.ndarray]:
    rng = rng_for(RENDERER, seed)
    frame_w, frame_h = size if size is not None else _pick_size(rng, options.sizes)
    # The scene is drawn at most SCENE_SIDE pixels wide and enlarged before the camera model:
    # the network sees 256x192, so finer scene detail would cost time and show nothing.
    # Noise, blur and JPEG still happen at the frame's own size.
    zoom = max(1.0, max(frame_w, frame_h) / SCENE_SIDE)
    width, height = round(frame_w / zoom), round(frame_h / zoom)
    img = slot_background(rng, height, width)
    specular = np.zeros((height, width), dtype=np.float32)
    classes = np.full((height, width), SEG_BACKGROUND, dtype=np.uint8)

    tray = _place_tray(rng, width, height)
    material, base = tray_material(rng, options.tray_widen)
    draw_tray(rng, img, specular, tray, material=material, base=base)
    decoys: list[tuple[float, float, float, float]] = []
    if rng.random() < 0.25:
        decoys.append(draw_napkin(rng, img, specular, tray)[1])
    if rng.random() < RECEIPTS:
        decoys.append(draw_receipt(rng, img, specular, tray))

    light_angle = float(rng.uniform(-np.pi, np.pi))
    reach = float(rng.uniform(0.005, 0.025)) * width
    shadow_offset = (-np.cos(light_angle) * reach, -np.sin(light_angle) * reach)

    n_items = int(rng.integers(1, 7))
    lip = float(rng.uniform(0.02, 0.05)) * tray.half_h
    specs = _layout(rng, (width, height), tray, n_items, lip)
    _drop_shadows(rng, img, specs, shadow_offset)
    items = [
        _draw_dish(
            rng,
            img,
            specular,
            classes,
            spec=spec,
            family=choose_family(rng, options.unknown_rate),
            shades=options.shades,
        )
        for spec in specs
    ]
    for _ in range(int(rng.choice(3, p=[0.5, 0.35, 0.15]))):
        piece, bowl = draw_cutlery(rng, img, specular, tray, shadow_offset)
        classes[piece > 0.5] = SEG_BACKGROUND
        if bowl is not None:
            decoys.append(bowl)
    if rng.random() < 0.2:  # crumbs and drips on the tray
        crumbs, colour = garnish(rng, height, width, int(rng.integers(3, 15)), 0.006 * width)
        px.scale(img, 1.0 - crumbs)
        img += colour
        classes[(crumbs > 0.5) & (classes == SEG_BACKGROUND)] = SEG_FOOD

    kelvin = float(rng.uniform(*options.kelvin))
    adaptation = 0.0 if rng.random() < 0.3 else float(rng.uniform(0.0, 0.8))
    gains = white_balance_gains(
        kelvin, float(rng.uniform(4800.0, 6800.0)), adaptation, float(rng.uniform(-0.04, 0.04))
    )
    field = illumination_field(rng, height, width, light_angle)
    px.shift(img, specular)  # the scene is done with: light it in place
    px.scale(img, field)
    radiance = img * gains
    brightness = float(rng.uniform(*options.brightness))
    if zoom > 1.0:
        radiance = cv2.resize(radiance, (frame_w, frame_h), interpolation=cv2.INTER_LINEAR)
        classes = np.asarray(
            cv2.resize(classes, (frame_w, frame_h), interpolation=cv2.INTER_NEAREST), np.uint8
        )
        sx, sy = frame_w / width, frame_h / height
        items = [_scaled(item, sx, sy) for item in items]
        decoys = [(x0 * sx, y0 * sy, x1 * sx, y1 * sy) for x0, y0, x1, y1 in decoys]
    frame = expose_and_encode(rng, radiance, brightness)
    label = TrayLabel(
        seed=seed,
        renderer=RENDERER,
        width=frame_w,
        height=frame_h,
        items=tuple(items),
        colour_temperature_k=kelvin,
        brightness=brightness,
        tray_material=material,
        decoys=tuple(
            d
            for d in decoys
            if 0 <= (d[0] + d[2]) / 2 < frame_w and 0 <= (d[1] + d[3]) / 2 < frame_h
        ),
    )
    return frame, label, classes


def _scaled(item: ItemLabel, sx: float, sy: float) -> ItemLabel:
    x0, y0, x1, y1 = item.box
    return replace(
        item,
        centre=(item.centre[0] * sx, item.centre[1] * sy),
        radius=item.radius * float(np.sqrt(sx * sy)),
        box=(x0 * sx, y0 * sy, x1 * sx, y1 * sy),
    )


def _drop_shadows(
    rng: np.random.Generator, img: np.ndarray, specs: list[DishSpec], offset: tuple[float, float]
) -> None:
    """Soft shadows of the dishes on the tray, cast away from the light."""
    h, w = img.shape[:2]
    shadow = np.zeros((h, w), dtype=np.float32)
    for spec in specs:
        moved = DishSpec(
            spec.shape,
            spec.cx + offset[0],
            spec.cy + offset[1],
            spec.a,
            spec.b,
            spec.angle,
            spec.power,
            spec.rim,
            spec.floor,
        )
        bx0, by0, bx1, by1 = moved.box()
        x0, y0 = max(int(bx0), 0), max(int(by0), 0)
        x1, y1 = min(int(np.ceil(bx1)) + 1, w), min(int(np.ceil(by1)) + 1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        geo = geometry(moved, x0, y0, x1 - x0, y1 - y0)
        shadow[y0:y1, x0:x1] = np.maximum(shadow[y0:y1, x0:x1], coverage(geo.rho, 1.0, geo.scale))
    sigma = max(1.0, float(np.hypot(*offset)) * float(rng.uniform(0.6, 1.5)))
    if sigma > 4.0:
        shadow = soft_blur((shadow * 255.0).astype(np.uint8), sigma)
    else:
        shadow = np.asarray(cv2.GaussianBlur(shadow, (0, 0), sigma), np.float32)
    px.scale(img, 1.0 - float(rng.uniform(0.15, 0.4)) * shadow)


def render_tray(
    seed: int, options: RenderOptions | None = None, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, TrayLabel]:
    """One tray as an 8-bit BGR frame (as a camera would deliver it) and its labels."""
    frame, label, _ = _render(seed, options or RenderOptions(), size)
    return frame, label


def render_tray_with_classes(
    seed: int, options: RenderOptions | None = None, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, TrayLabel, np.ndarray]:
    """Like :func:`render_tray`, plus the per-pixel class map (``palette.SEG_*``) for training."""
    return _render(seed, options or RenderOptions(), size)
