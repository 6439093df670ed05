"""Seed ranges: training, validation (threshold calibration) and held-out evaluation never meet.

A tray is fully determined by its renderer and seed, so disjoint seed ranges mean disjoint data.
"""

from __future__ import annotations

from typing import Final

TRAIN: Final = range(1_000_000)
VALIDATION: Final = range(1_000_000, 1_100_000)
#: Default first seed of the held-out evaluation set (``evaluate --seed``).
HELD_OUT_START: Final = 2_000_000
#: Default first seed of the drawn-differently set (its own renderer, so its own stream anyway).
ALT_START: Final = 3_000_000


def check_held_out(start: int, count: int) -> None:
    """Raise ``ValueError`` when seeds ``start .. start+count-1`` touch training or validation."""
    last = start + count - 1
    for name, used in (("training", TRAIN), ("validation", VALIDATION)):
        if start <= used[-1] and last >= used[0]:
            msg = (
                f"seeds {start}..{last} overlap the {name} seeds "
                f"{used[0]}..{used[-1]}: pick a held-out seed outside them"
            )
            raise ValueError(msg)
