"""One stud's health: last seen, smoothed RSSI, battery, tamper, online or offline.

Pure: frames and the time come in, the state changes (each becomes one event) go out.

* Online/offline: a stud unheard for ``away_timeout_s`` goes offline, judged at each
  tick, so it is reported within the timeout plus one tick; any frame from it (status,
  iBeacon, Eddystone) brings it back. A stud expected from the config but never heard
  goes offline one timeout after the start.
* Low battery below ``low_battery_mv``; ok again only above it plus a hysteresis, so a
  battery hovering at the threshold does not flap.
* Tamper follows the stud's latched tamper flag. While it is up the magnetometer reads
  nonsense, so the bikes over it stay as they were before (see :meth:`StudMachine.feed`).
"""

from __future__ import annotations

from edge.config import StudRules
from edge.parking.occupancy import BikeLevel
from firmware_bridge.ble import StudStatus
from wire import parking as p

AREA_NAMES = ("unassigned", "bay", "no_parking")


class StudMachine:
    """State of one stud; :meth:`feed` and :meth:`tick` return the event types due."""

    __slots__ = (
        "area",
        "area_id",
        "battery_mv",
        "bikes",
        "last_seen",
        "low_battery",
        "online",
        "rssi",
        "rules",
        "since",
        "stud_id",
        "tamper",
    )

    def __init__(self, stud_id: int, area: str, area_id: int, rules: StudRules) -> None:
        self.stud_id = stud_id
        self.area = area
        self.area_id = area_id
        self.rules = rules
        self.online: bool | None = None  # None: not judged yet
        self.since: float | None = None  # when the box began expecting it
        self.last_seen: float | None = None
        self.rssi: float | None = None
        self.battery_mv: int | None = None
        self.tamper = False
        self.low_battery = False
        self.bikes = BikeLevel(
            bike_field_ut=rules.bike_field_ut, park_s=rules.park_s, leave_s=rules.leave_s
        )

    @property
    def healthy(self) -> bool:
        """Heard, not tampered with, battery fine: needs no maintenance."""
        return self.online is True and not self.tamper and not self.low_battery

    def expect_from(self, t: float) -> None:
        """Start the away timeout of a stud that has not been heard yet."""
        if self.since is None:
            self.since = t

    def heard(self, t: float, rssi: int) -> list[str]:
        """Any frame from the stud; returns ``[STUD_BACK]`` if it was offline."""
        self.last_seen = t
        if self.since is None:
            self.since = t
        a = self.rules.rssi_smoothing
        self.rssi = float(rssi) if self.rssi is None else self.rssi + a * (rssi - self.rssi)
        if self.online is not True:
            was = self.online
            self.online = True
            if was is False:
                return [p.STUD_BACK]
        return []

    def feed(self, t: float, rssi: int, status: StudStatus) -> tuple[list[str], bool]:
        """A status frame: the events due, and whether the bikes over it changed."""
        events = self.heard(t, rssi)
        self.battery_mv = mv = status.battery_mv
        rules = self.rules
        if not self.low_battery and mv < rules.low_battery_mv:
            self.low_battery = True
            events.append(p.LOW_BATTERY)
        elif self.low_battery and mv >= rules.low_battery_mv + rules.battery_hysteresis_mv:
            self.low_battery = False
            events.append(p.BATTERY_OK)
        if status.tamper != self.tamper:
            self.tamper = status.tamper
            events.append(p.TAMPER if status.tamper else p.TAMPER_CLEAR)
        if status.tamper:
            return events, False  # pried out: its occupancy is noise, keep what it had
        return events, self.bikes.feed(t, status.occupied, status.field_ut)

    def tick(self, now: float) -> list[str]:
        """Judge the away timeout at ``now``."""
        if self.online is False:
            return []
        last = self.last_seen if self.last_seen is not None else self.since
        if last is not None and now - last >= self.rules.away_timeout_s:
            self.online = False
            return [p.STUD_OFFLINE]
        return []
