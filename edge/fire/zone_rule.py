"""A confirmed fire for linkage (GB 50116's two-device rule).

One detector in alarm raises the alarm at once, but proposing to dispatch other sites'
stations waits for a second, independent detector of the same zone to alarm too (or
for a person to confirm, which happens in the cloud console). The zone is confirmed
once per episode: until no detector of it is in alarm any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.fire.detector_state import Level


@dataclass
class ZoneRule:
    zone: str
    needed: int = 2
    in_alarm: set[str] = field(default_factory=set)
    confirmed: bool = False

    def update(self, detector: str, level: Level) -> list[str] | None:
        """Note a detector's level; returns the detectors that confirm the fire the
        moment the zone becomes confirmed, else None."""
        if level is Level.ALARM:
            self.in_alarm.add(detector)
        else:
            self.in_alarm.discard(detector)
        if not self.in_alarm:
            self.confirmed = False
            return None
        if not self.confirmed and len(self.in_alarm) >= self.needed:
            self.confirmed = True
            return sorted(self.in_alarm)
        return None
