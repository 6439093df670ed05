"""Ground truth of a synthetic tray, shared by both renderers and the evaluation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ItemLabel:
    """One dish as drawn.

    ``colour`` is what the checkout must answer (one of ``palette.COLOURS`` or ``"unknown"``);
    ``family`` says what was drawn (e.g. ``"pink"``, ``"patterned"``, ``"half-and-half"``).
    Coordinates are pixels of the rendered image.
    """

    colour: str
    family: str
    shape: str
    centre: tuple[float, float]
    radius: float  # radius of the circle of the same area
    box: tuple[float, float, float, float]  # x0, y0, x1, y1, axis-aligned
    food_coverage: float  # share of the interior covered by food
    #: How the food lies: "heaps", "pieces" (scattered, the dish showing between them) or
    #: "heap and pieces".
    food_layout: str = "heaps"


@dataclass(frozen=True)
class TrayLabel:
    """A whole tray: its dishes and the conditions it was drawn under."""

    seed: int
    renderer: str
    width: int
    height: int
    items: tuple[ItemLabel, ...]
    colour_temperature_k: float
    brightness: float  # overall exposure factor, 1.0 = nominal
    tray_material: str
    #: Things on the tray that are not dishes but could pass for one (a soup spoon's bowl, a
    #: napkin): axis-aligned boxes x0, y0, x1, y1 in pixels. The crop classifier learns to
    #: call them "not a dish".
    decoys: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def colours(self) -> list[str]:
        """The tray-level answer: the dishes' colours, sorted."""
        return sorted(item.colour for item in self.items)

    @property
    def billable(self) -> bool:
        """True when no dish is of an unknown colour, so the tray can be billed unattended."""
        return all(item.colour != "unknown" for item in self.items)
