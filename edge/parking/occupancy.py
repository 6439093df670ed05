"""Bikes over one stud, debounced: a bike rolling past does not count.

A stud reports its magnetometer's raw decision (occupied or not) and the field shift.
One parked bike shifts the field by about ``bike_field_ut``; a bike standing between
two studs shifts each by its share, and bikes squeezed in over one stud add up. So the
field over ``bike_field_ut``, in halves, is the bikes over the stud (a half: a bike
shared with the neighbour).

That level becomes the stud's accepted level only once every frame heard for
``park_s`` (more bikes) or ``leave_s`` (fewer) has said the same: a roll-past trips a
stud for a few seconds, then the level it had comes back and nothing changed. Lost
frames do not reset the wait; only a frame that says otherwise does.
"""

from __future__ import annotations


class BikeLevel:
    """The debounced bikes over one stud, in halves (a float: 0, 0.5, 1, 1.5…)."""

    __slots__ = ("_since", "accepted", "bike_field_ut", "candidate", "leave_s", "park_s")

    def __init__(self, *, bike_field_ut: float, park_s: float, leave_s: float) -> None:
        self.bike_field_ut = bike_field_ut
        self.park_s = park_s
        self.leave_s = leave_s
        self.accepted = 0.0
        self.candidate = 0.0
        self._since = 0.0

    def raw(self, occupied: bool, field_ut: float | None) -> float:
        """What one frame says, in halves of a bike."""
        if not occupied:
            return 0.0
        if field_ut is None:  # magnetometer fault: the flag is all there is
            return 1.0
        return max(0.5, round(2.0 * field_ut / self.bike_field_ut) / 2.0)

    def feed(self, t: float, occupied: bool, field_ut: float | None) -> bool:
        """One frame at ``t``; True when the accepted level changed."""
        level = self.raw(occupied, field_ut)
        if level != self.candidate:
            self.candidate, self._since = level, t
        if level == self.accepted:
            return False
        wait = self.park_s if level > self.accepted else self.leave_s
        if t - self._since >= wait:
            self.accepted = level
            return True
        return False
