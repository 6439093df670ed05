"""Dishes for the synthetic trays: shape, surface colour or pattern, rim shading and glaze.

Every dish is a superellipse ``(|x|/a)^p + (|y|/b)^p = 1`` in its own rotated frame: ``p = 2``
gives round plates, bowls and ovals, larger ``p`` rounded squares. Shading works on the
normalised radius ``rho`` (1 on the outline) so one profile serves every shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gamma, pi, sqrt
from typing import TYPE_CHECKING, Final

import numpy as np

from models.traycolour import pixel_ops as px
from models.traycolour.palette import (
    COLOURS,
    FAMILIES,
    UNIFORM,
    UNKNOWN,
    UNKNOWN_FAMILIES,
    sample_family,
    seg_class,
    srgb_to_linear,
)
from models.traycolour.synth_light import smooth_noise

if TYPE_CHECKING:
    from collections.abc import Callable

SHAPES = ("round", "bowl", "oval", "square")
#: Share of glazed dishes lit by a broad light overhead, whose lip shines all the way round
#: (the others show arcs of highlight towards a smaller light).
RING_HIGHLIGHTS = 0.3


@dataclass(frozen=True)
class DishSpec:
    """Where a dish lies and how it is built; lengths in pixels of the rendered frame."""

    shape: str
    cx: float
    cy: float
    a: float  # half extent along the dish's own x axis
    b: float  # half extent along its y axis
    angle: float  # radians
    power: float  # superellipse exponent
    rim: float  # rim width as a share of the normalised radius
    floor: float  # bowls: radius of the flat floor as a share of the normalised radius

    def box(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounding box (x0, y0, x1, y1) of the outline."""
        t = np.linspace(0.0, 2.0 * np.pi, 181)
        c, s = np.cos(t), np.sin(t)
        e = 2.0 / self.power
        x = self.a * np.sign(c) * np.abs(c) ** e
        y = self.b * np.sign(s) * np.abs(s) ** e
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        xs = self.cx + x * ca - y * sa
        ys = self.cy + x * sa + y * ca
        return (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))

    def equivalent_radius(self) -> float:
        """Radius of the circle with the same area as the outline."""
        # Area of a superellipse: 4ab * Gamma(1 + 1/p)^2 / Gamma(1 + 2/p).
        area = 4.0 * self.a * self.b * gamma(1.0 + 1.0 / self.power) ** 2
        area /= gamma(1.0 + 2.0 / self.power)
        return sqrt(area / pi)


@dataclass(frozen=True)
class Geometry:
    """Per-pixel coordinates of a dish inside its region of interest."""

    rho: np.ndarray  # normalised radius, 1 on the outline
    psi: np.ndarray  # image-space azimuth around the centre, radians
    xr: np.ndarray  # pixel offsets in the dish's own frame
    yr: np.ndarray
    scale: float  # pixels per unit of rho near the outline (for anti-aliasing)


def geometry(spec: DishSpec, x0: int, y0: int, width: int, height: int) -> Geometry:
    """Coordinates of every pixel of the region (x0, y0, width, height) relative to ``spec``."""
    ys, xs = np.mgrid[y0 : y0 + height, x0 : x0 + width].astype(np.float32)
    dx = xs + 0.5 - spec.cx
    dy = ys + 0.5 - spec.cy
    ca, sa = np.float32(np.cos(spec.angle)), np.float32(np.sin(spec.angle))
    xr = dx * ca + dy * sa
    yr = -dx * sa + dy * ca
    p = np.float32(spec.power)
    rho = (np.abs(xr / spec.a) ** p + np.abs(yr / spec.b) ** p) ** (1.0 / p)
    psi = np.arctan2(dy, dx)
    return Geometry(rho, psi, xr, yr, min(spec.a, spec.b))


def coverage(rho: np.ndarray, edge: float, scale: float) -> np.ndarray:
    """Anti-aliased inside-ness (0..1) of ``rho <= edge``."""
    return np.clip((edge - rho) * scale + 0.5, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Surface:
    """What a dish looks like before food: albedo, specular and per-pixel class."""

    albedo: np.ndarray  # linear RGB, H x W x 3
    specular: np.ndarray  # H x W
    classes: np.ndarray  # uint8 H x W, valid where the dish is
    colour: str  # answer for the dish
    family: str


def _linear(rgb: tuple[float, float, float]) -> np.ndarray:
    return np.array(srgb_to_linear(rgb), dtype=np.float32)


def choose_family(rng: np.random.Generator, unknown_rate: float) -> str:
    """Family of a dish: a billable colour (white twice as likely) or an unknown kind."""
    if rng.random() < unknown_rate:
        kinds = (*UNKNOWN_FAMILIES, "patterned", "half-and-half")
        return kinds[int(rng.integers(len(kinds)))]
    weights = np.array([2.0 if c == "white" else 1.0 for c in COLOURS])
    return COLOURS[int(rng.choice(len(COLOURS), p=weights / weights.sum()))]


def _other_family(rng: np.random.Generator, not_this: str, pool: tuple[str, ...]) -> str:
    choices = [f for f in pool if f != not_this]
    return choices[int(rng.integers(len(choices)))]


def _pattern_mask(rng: np.random.Generator, geo: Geometry, spec: DishSpec) -> np.ndarray:
    """A two-tone decoration, coarse enough to stay visible at the network's resolution."""
    kind = int(rng.integers(6))
    size = float(rng.uniform(0.09, 0.22)) * max(spec.a, spec.b)
    if kind == 0:  # concentric bands, at least two across the rim
        bands = min(max(float(rng.uniform(6.0, 14.0)), 2.0 / max(spec.rim, 0.05)), 20.0)
        return (np.floor(geo.rho * bands) % 2).astype(bool)
    if kind == 1:  # radial stripes
        phi = np.arctan2(geo.yr, geo.xr)
        spokes = int(rng.integers(10, 28))
        return np.asarray(np.floor((phi + np.pi) / (2 * np.pi) * spokes) % 2, dtype=bool)
    if kind == 2:  # polka dots
        gx = (geo.xr / size) % 1.0 - 0.5
        gy = (geo.yr / size) % 1.0 - 0.5
        return np.asarray((gx * gx + gy * gy) < float(rng.uniform(0.05, 0.15)))
    if kind == 3:  # checks
        return ((np.floor(geo.xr / size) + np.floor(geo.yr / size)) % 2).astype(bool)
    if kind == 4:  # diagonal stripes
        return np.asarray(np.floor((geo.xr + geo.yr) / size) % 2, dtype=bool)
    # Flowers and leaves: thresholded band-limited noise.
    h, w = geo.rho.shape
    noise = smooth_noise(rng, h, w, float(rng.uniform(6.0, 14.0)))
    return np.asarray(noise > float(rng.uniform(-0.2, 0.4)))


#: A pattern must show on the rim, which is what decides a dish (food hides the middle): its
#: second colour covers between these shares of the rim, or it is drawn again.
RIM_PATTERN_SHARE: Final = (0.15, 0.85)
#: ... and the two colours differ by at least this factor in some channel (linear light), so
#: that the pattern shows at all: red on pink, orange on brown drawn alike would be a solid
#: dish labelled as a patterned one.
PATTERN_CONTRAST: Final = 1.8


def _rim_pattern(rng: np.random.Generator, geo: Geometry, spec: DishSpec) -> np.ndarray:
    """A pattern mask whose second colour covers a fair share of the rim (``RIM_PATTERN_SHARE``;
    after a few tries, whatever was drawn last)."""
    rim = (geo.rho >= 1.0 - spec.rim) & (geo.rho <= 1.0)
    low, high = RIM_PATTERN_SHARE
    for _ in range(6):
        mask = _pattern_mask(rng, geo, spec)
        share = float(mask[rim].mean()) if rim.any() else 0.5
        if low <= share <= high:
            break
    return mask


def _contrasting(
    rng: np.random.Generator, ground: np.ndarray, draw: Callable[[], np.ndarray]
) -> np.ndarray:
    """A colour from ``draw`` that differs from ``ground`` by ``PATTERN_CONTRAST`` in some
    channel (after a few tries, the last one drawn)."""
    figure = draw()
    for _ in range(8):
        ratio = np.abs(np.log((figure + 0.02) / (ground + 0.02))).max()
        if ratio >= np.log(PATTERN_CONTRAST):
            break
        figure = draw()
    return figure


def surface(
    rng: np.random.Generator,
    spec: DishSpec,
    geo: Geometry,
    family: str,
    concentration: float = UNIFORM,
) -> Surface:
    """Colour, pattern and class of every dish pixel of the region; ``concentration`` says how
    its shades fill their family's box (``palette.sample_box``)."""

    def shade_of(name: str) -> np.ndarray:
        return _linear(sample_family(rng, name, concentration))

    h, w = geo.rho.shape
    billable = family in FAMILIES
    colour = family if billable else UNKNOWN
    classes = np.full((h, w), seg_class(colour), dtype=np.uint8)
    if family == "patterned":
        pool = (*COLOURS, *UNKNOWN_FAMILIES)
        first = pool[int(rng.integers(len(pool)))]
        ground = shade_of(first)
        figure = _contrasting(rng, ground, lambda: shade_of(_other_family(rng, first, pool)))
        mask = _rim_pattern(rng, geo, spec)
        albedo = np.where(mask[:, :, None], figure, ground)
        if rng.random() < 0.4:  # a third colour sprinkled over the pattern
            third = _pattern_mask(rng, geo, spec) & ~mask
            albedo = np.where(third[:, :, None], shade_of("white"), albedo)
    elif family == "half-and-half":
        first = COLOURS[int(rng.integers(len(COLOURS)))]
        second = _other_family(rng, first, COLOURS)
        cut = float(rng.uniform(0.0, np.pi))
        # Split near the middle: each half owns a good part of the rim.
        offset = float(rng.uniform(-0.05, 0.05)) * min(spec.a, spec.b)
        side = (geo.xr * np.cos(cut) + geo.yr * np.sin(cut)) > offset
        albedo = np.where(
            side[:, :, None],
            shade_of(first),
            shade_of(second),
        )
        # Each half is truly its colour; the dish as a whole is unknown because it is split.
        classes = np.where(side, seg_class(first), seg_class(second)).astype(np.uint8)
    else:
        albedo = np.broadcast_to(shade_of(family), (h, w, 3))
    albedo = np.array(albedo, dtype=np.float32)

    # Glaze unevenness, and now and then speckled stoneware.
    px.scale(albedo, 1.0 + 0.04 * smooth_noise(rng, h, w, float(rng.uniform(2.0, 6.0))))
    if rng.random() < 0.15:
        speck = rng.random((h, w)) < float(rng.uniform(0.002, 0.01))
        albedo[speck] *= float(rng.uniform(0.3, 0.7))

    shade, spec_map = _shading(rng, spec, geo)
    px.scale(albedo, shade)
    return Surface(albedo, spec_map, classes, colour, family)


def _bump(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-(((x - centre) / width) ** 2)).astype(np.float32)


def _shading(
    rng: np.random.Generator, spec: DishSpec, geo: Geometry
) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse shading factor and specular intensity from the dish's height profile."""
    light = float(rng.uniform(-np.pi, np.pi))
    facing = np.cos(geo.psi - light).astype(np.float32)  # +1 on the side towards the light
    rho = geo.rho
    inner = 1.0 - spec.rim
    t = (rho - inner) / max(spec.rim, 1e-3)  # 0 at the rim's inner edge, 1 outside
    # slope > 0 where the surface rises outwards; such a patch faces away from the outward light.
    if spec.shape == "bowl":
        wall_t = np.clip((rho - spec.floor) / max(inner - spec.floor, 1e-3), 0.0, 1.0)
        on_wall = (rho >= spec.floor) & (rho < inner)
        slope = np.where(on_wall, 0.9 * np.sqrt(np.sin(np.pi * wall_t * 0.5 + 1e-3)), 0.0)
        slope = slope + np.where(t >= 0.0, _bump(t, 0.2, 0.2) - _bump(t, 0.85, 0.15), 0.0)
        occlusion = np.where(rho < spec.floor, float(rng.uniform(0.72, 0.92)), 1.0)
        occlusion = np.where(on_wall, 0.78 + 0.22 * wall_t, occlusion)
    else:
        slope = np.where(t >= 0.0, 0.8 * _bump(t, 0.1, 0.14) - 0.6 * _bump(t, 0.92, 0.1), 0.0)
        occlusion = np.where(t < 0.0, float(rng.uniform(0.9, 1.0)), 1.0)
    strength = float(rng.uniform(0.12, 0.45))
    shade = (1.0 - strength * slope * facing) * occlusion
    shade = np.where(rho > 0.985, shade * 0.85, shade).astype(np.float32)

    specular = np.zeros_like(rho, dtype=np.float32)
    if rng.random() < 0.75:  # glazed
        gloss = float(rng.uniform(0.25, 1.6))
        if rng.random() < RING_HIGHLIGHTS:
            # A broad light above (a ceiling panel, a ring light round the camera) shines on
            # the rounded lip all the way round, most where the lip faces the light: a bright
            # ring, one band, not the two-colour bands of a patterned rim.
            delta = np.angle(np.exp(1j * (geo.psi - light))).astype(np.float32)
            around = 0.35 + 0.65 * np.exp(-((delta / float(rng.uniform(0.8, 2.0))) ** 2))
            lip = _bump(rho, float(rng.uniform(0.93, 0.97)), float(rng.uniform(0.02, 0.04)))
            specular += gloss * around * lip
        else:
            width = float(rng.uniform(0.15, 0.5))
            for offset in (np.pi, 0.0) if rng.random() < 0.5 else (np.pi,):
                delta = np.angle(np.exp(1j * (geo.psi - light - offset))).astype(np.float32)
                along = np.exp(-((delta / width) ** 2))
                rise = inner - 0.12 if spec.shape == "bowl" else inner + 0.12 * spec.rim
                where = _bump(rho, rise, 0.05) if offset else _bump(rho, 0.95, 0.03)
                specular += gloss * along * where
    return np.clip(shade, 0.3, 1.3).astype(np.float32), specular.astype(np.float32)
