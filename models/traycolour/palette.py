"""Colour families: the eight billable colours, the ones that are not, and how to draw shades.

Shades are drawn uniformly inside HSV boxes (display sRGB, hue in degrees). The boxes leave gaps
between neighbouring families (red/orange, orange/yellow, blue/cyan, white/grey, ...) so that a
label is never a coin toss; the colours that fall into the gaps and have a name of their own
(pink, brown, grey, cyan) are drawn as ``unknown`` dishes.
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

#: Billable families. Each may hold several boxes (e.g. red and crimson).
FAMILIES: Final[dict[str, tuple[HsvBox, ...]]] = {
    "red": (HsvBox((-13.0, 7.0), (0.72, 1.0), (0.45, 0.95)),),
    "orange": (HsvBox((20.0, 40.0), (0.8, 1.0), (0.85, 1.0)),),
    "yellow": (HsvBox((46.0, 62.0), (0.7, 1.0), (0.85, 1.0)),),
    "green": (HsvBox((92.0, 150.0), (0.5, 1.0), (0.35, 0.85)),),
    "blue": (HsvBox((202.0, 248.0), (0.5, 1.0), (0.35, 0.95)),),
    "purple": (HsvBox((262.0, 302.0), (0.45, 1.0), (0.3, 0.8)),),
    "white": (HsvBox(_ANY_HUE, (0.0, 0.05), (0.9, 1.0)),),
    "black": (HsvBox(_ANY_HUE, (0.0, 0.3), (0.03, 0.17)),),
}

#: Named colours that are not billable: a dish of one of these must come out ``unknown``.
UNKNOWN_FAMILIES: Final[dict[str, tuple[HsvBox, ...]]] = {
    "pink": (
        HsvBox((-30.0, 8.0), (0.2, 0.5), (0.88, 1.0)),
        HsvBox((318.0, 340.0), (0.5, 0.95), (0.85, 1.0)),
    ),
    "brown": (HsvBox((16.0, 38.0), (0.5, 0.9), (0.28, 0.55)),),
    "grey": (HsvBox(_ANY_HUE, (0.0, 0.07), (0.4, 0.64)),),
    "cyan": (HsvBox((168.0, 190.0), (0.5, 1.0), (0.5, 0.95)),),
}


def hsv_to_rgb(hue_deg: float, sat: float, val: float) -> tuple[float, float, float]:
    """Display sRGB (0..1) of an HSV colour with the hue in degrees (any value, it wraps)."""
    return colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, sat, val)


def sample_box(rng: np.random.Generator, box: HsvBox) -> tuple[float, float, float]:
    """A uniform draw inside one HSV box, as display sRGB."""
    return hsv_to_rgb(
        float(rng.uniform(*box.hue)), float(rng.uniform(*box.sat)), float(rng.uniform(*box.val))
    )


def sample_family(rng: np.random.Generator, family: str) -> tuple[float, float, float]:
    """A shade of a billable or unknown family, as display sRGB (0..1)."""
    boxes = FAMILIES.get(family) or UNKNOWN_FAMILIES[family]
    return sample_box(rng, boxes[int(rng.integers(len(boxes)))])


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
