"""Bays and no-parking zones: bikes counted from their studs' debounced levels.

A bay's bikes are the sum of its studs' levels (halves: a bike between two studs is
half over each), rounded. A stud offline or tampered with keeps the level it last had:
the bikes over it rarely leave the moment it breaks, and the stud shows as needing
maintenance meanwhile. Over capacity is entered and left only after the count has
stayed over (or back within) capacity for ``hold_s``, so one alert per overfill.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.parking.stud_state import StudMachine
from wire import parking as p


def count_bikes(studs: Sequence[StudMachine]) -> int:
    return int(sum(s.bikes.accepted for s in studs) + 0.5)


class BayMachine:
    def __init__(self, bay_id: int, *, name: str = "", capacity: int = 0, hold_s: float = 0.0):
        self.bay_id = bay_id
        self.name = name
        self.capacity = capacity
        self.hold_s = hold_s
        self.studs: list[StudMachine] = []
        self.bikes = 0
        self.over = False
        self._since: float | None = None  # when the count crossed, not yet held long enough

    def update(self, now: float) -> list[str]:
        """Recount; the over-capacity event due at ``now``, if any."""
        self.bikes = count_bikes(self.studs)
        over = self.capacity > 0 and self.bikes > self.capacity
        if over == self.over:
            self._since = None
            return []
        if self._since is None:
            self._since = now
        if now - self._since < self.hold_s:
            return []
        self.over, self._since = over, None
        return [p.OVER_CAPACITY if over else p.OVER_CAPACITY_CLEAR]


class ZoneMachine:
    def __init__(self, zone_id: int, *, name: str = ""):
        self.zone_id = zone_id
        self.name = name
        self.studs: list[StudMachine] = []
        self.bikes = 0
        self.occupied = False

    def update(self) -> list[str]:
        """Recount; ``NO_PARKING`` when a bike has parked in an empty zone, ``…_CLEAR``
        when the last one left (the studs' levels are debounced already)."""
        self.bikes = count_bikes(self.studs)
        occupied = self.bikes > 0
        if occupied == self.occupied:
            return []
        self.occupied = occupied
        return [p.NO_PARKING if occupied else p.NO_PARKING_CLEAR]
