"""Colour families: the eight billable colours, the ones that are not, and how to draw shades.

Shades are drawn inside HSV boxes (display sRGB, hue in degrees). Each box holds the shades a
person would give the family's name without hesitating. Its standard colours are inside, but not
all well inside: pure red, dark orange, pure yellow, indigo and rebeccapurple are; crimson (hue
-12), CSS orange (38.8), gold (50.6), navy (240) and dodger blue (209.6) lie within 1 to 6
degrees of an edge. CSS orange and gold are only 12 degrees apart, so no gap of 10 degrees can
put both well inside their families. The boxes leave gaps between neighbouring families wide
enough to survive the light the checkout sees (3000-6500 K, brightness +-40 %): at least 10
degrees of hue between hue neighbours, and a lightness ratio of at least 1.6 between colours
told apart by lightness alone (white and grey, orange and brown), so that the tray around a dish
can settle which one it is. Colours that fall into the gaps and have a name of their own (pink,
brown, grey, cyan) are drawn as ``unknown`` dishes.

How shades fill a box (``concentration``): uniformly (1) for training, so that the model learns
each family up to its edges, or weighted to the middle (2, a Beta(2, 2) draw per coordinate) for
the held-out trays; the edges are still drawn, only less often. A canteen's plates are mostly of
a few standard shades, and some of those (above) are near an edge, so the held-out figures
flatter the model for such plates.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import numpy as np

COLOURS: Final[tuple[str, ...]] = (
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "white",
    "black",
)
UNKNOWN: Final = "unknown"
#: Every label a dish can get, in the order of the evaluation's confusion matrix.
LABELS: Final[tuple[str, ...]] = (*COLOURS, UNKNOWN)

# Per-pixel classes of the segmentation head.
SEG_BACKGROUND: Final = 0  # tray, slot, cutlery, napkins, shadows
SEG_FOOD: Final = 1  # food, sauce and garnish, wherever they lie
SEG_FIRST_DISH: Final = 2  # dish surface of COLOURS[0]; COLOURS[i] is SEG_FIRST_DISH + i
SEG_OTHER_DISH: Final = SEG_FIRST_DISH + len(COLOURS)  # dish surface of an unknown colour/pattern
N_SEG_CLASSES: Final = SEG_OTHER_DISH + 1


@dataclass(frozen=True)
class HsvBox:
    """A box in HSV: hue in degrees (may start below 0 to wrap through red), s and v in 0..1."""

    hue: tuple[float, float]
    sat: tuple[float, float]
    val: tuple[float, float]


_ANY_HUE: Final = (0.0, 360.0)

#: Billable families. Each may hold several boxes.
FAMILIES: Final[dict[str, tuple[HsvBox, ...]]] = {
    "red": (HsvBox((-14.0, 8.0), (0.72, 1.0), (0.5, 1.0)),),
    "orange": (HsvBox((18.0, 40.0), (0.8, 1.0), (0.82, 1.0)),),
    "yellow": (HsvBox((50.0, 63.0), (0.7, 1.0), (0.85, 1.0)),),
    "green": (HsvBox((88.0, 148.0), (0.5, 1.0), (0.35, 0.95)),),
    "blue": (HsvBox((204.0, 244.0), (0.55, 1.0), (0.4, 1.0)),),
    "purple": (HsvBox((264.0, 300.0), (0.45, 1.0), (0.3, 0.85)),),
    "white": (HsvBox(_ANY_HUE, (0.0, 0.05), (0.9, 1.0)),),
    "black": (HsvBox(_ANY_HUE, (0.0, 0.2), (0.03, 0.17)),),
}

#: Named colours that are not billable: a dish of one of these must come out ``unknown``.
UNKNOWN_FAMILIES: Final[dict[str, tuple[HsvBox, ...]]] = {
    "pink": (
        HsvBox((-28.0, 6.0), (0.25, 0.45), (0.88, 1.0)),
        HsvBox((320.0, 336.0), (0.5, 0.95), (0.88, 1.0)),
    ),
    "brown": (HsvBox((16.0, 38.0), (0.55, 0.9), (0.2, 0.5)),),
    "grey": (HsvBox(_ANY_HUE, (0.0, 0.07), (0.32, 0.55)),),
    "cyan": (HsvBox((172.0, 190.0), (0.5, 1.0), (0.5, 1.0)),),
}

#: How shades fill a box: 1 uniformly (training), 2 weighted to the middle (held-out trays).
UNIFORM: Final = 1.0
TYPICAL: Final = 2.0


def hsv_to_rgb(hue_deg: float, sat: float, val: float) -> tuple[float, float, float]:
    """Display sRGB (0..1) of an HSV colour with the hue in degrees (any value, it wraps)."""
    return colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, sat, val)


def _within(rng: np.random.Generator, span: tuple[float, float], concentration: float) -> float:
    share = rng.random() if concentration == UNIFORM else rng.beta(concentration, concentration)
    return span[0] + (span[1] - span[0]) * float(share)


def sample_box(
    rng: np.random.Generator, box: HsvBox, concentration: float = UNIFORM
) -> tuple[float, float, float]:
    """A draw inside one HSV box, as display sRGB: uniform, or with ``concentration`` > 1 a
    symmetric Beta draw per coordinate that favours the middle of the box."""
    return hsv_to_rgb(
        _within(rng, box.hue, concentration),
        _within(rng, box.sat, concentration),
        _within(rng, box.val, concentration),
    )


def sample_family(
    rng: np.random.Generator, family: str, concentration: float = UNIFORM
) -> tuple[float, float, float]:
    """A shade of a billable or unknown family, as display sRGB (0..1)."""
    boxes = FAMILIES.get(family) or UNKNOWN_FAMILIES[family]
    return sample_box(rng, boxes[int(rng.integers(len(boxes)))], concentration)


def srgb_to_linear(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """Undo the sRGB transfer curve, for shading in linear light."""

    def one(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return (one(rgb[0]), one(rgb[1]), one(rgb[2]))


def seg_class(colour: str) -> int:
    """Segmentation class of the dish surface of a dish labelled ``colour``."""
    if colour == UNKNOWN:
        return SEG_OTHER_DISH
    return SEG_FIRST_DISH + COLOURS.index(colour)
