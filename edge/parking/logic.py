"""The parking logic of one box: advertisements in, events and readings out.

Pure of I/O and threads (the pipeline owns those): :meth:`ParkingLogic.feed` takes one
advertisement record, :meth:`ParkingLogic.tick` the time; what is due to be sent waits
in :attr:`ParkingLogic.events` and :attr:`ParkingLogic.readings` until taken. Time is
the records' own (``AdvertisementRecord.t``), so a replay decides the same at any
speed; ``epoch_offset_s`` turns it into wall time for the messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from edge.config import ParkingConfig
from edge.parking.area_state import BayMachine, ZoneMachine
from edge.parking.stud_state import AREA_NAMES, StudMachine
from firmware_bridge.ble import (
    AdvertisementRecord,
    AreaKind,
    SkipCounts,
    StudStatus,
    decode_advertisement,
)
from wire import Reading, Severity
from wire import parking as p

_SEVERITY = {
    p.STUD_OFFLINE: Severity.WARNING,
    p.LOW_BATTERY: Severity.WARNING,
    p.TAMPER: Severity.WARNING,
    p.OVER_CAPACITY: Severity.WARNING,
    p.NO_PARKING: Severity.WARNING,
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event to send: its type, severity, source, data; ``steady`` ones (the
    snapshot) may wait behind alarms and be superseded."""

    type: str
    severity: Severity
    source: str
    data: BaseModel
    steady: bool = False


class ParkingLogic:
    def __init__(self, config: ParkingConfig, *, epoch_offset_s: float = 0.0) -> None:
        self.config = config
        self.rules = config.studs
        self.epoch_offset_s = epoch_offset_s
        self.skips = SkipCounts()
        self.studs: dict[int, StudMachine] = {}
        self.by_address: dict[str, StudMachine] = {}
        self.bays: dict[int, BayMachine] = {}
        self.zones: dict[int, ZoneMachine] = {}
        self.events: list[Outgoing] = []
        self.readings: list[Reading] = []
        self.records = 0
        self.started: float | None = None
        self.now: float | None = None  # the time the logic has been judged to (ticks)
        self.heard: float | None = None  # the latest record's time
        self._next_tick = self._next_telemetry = self._next_snapshot = 0.0
        for bay in config.bays:
            self.bays[bay.id] = BayMachine(
                bay.id, name=bay.name, capacity=bay.capacity, hold_s=config.over_capacity_hold_s
            )
            for stud_id in bay.studs:
                self._add_stud(stud_id, "bay", bay.id)
        for zone in config.zones:
            self.zones[zone.id] = ZoneMachine(zone.id, name=zone.name)
            for stud_id in zone.studs:
                self._add_stud(stud_id, "no_parking", zone.id)

    # -- studs and areas -----------------------------------------------------------------------

    def _add_stud(self, stud_id: int, area: str, area_id: int) -> StudMachine:
        stud = self.studs[stud_id] = StudMachine(stud_id, area, area_id, self.rules)
        if area == "bay":
            bay = self.bays.get(area_id)
            if bay is None:  # not in the config: counted, but no capacity to exceed
                bay = self.bays[area_id] = BayMachine(
                    area_id, hold_s=self.config.over_capacity_hold_s
                )
            bay.studs.append(stud)
        elif area == "no_parking":
            zone = self.zones.get(area_id)
            if zone is None:
                zone = self.zones[area_id] = ZoneMachine(area_id)
            zone.studs.append(stud)
        if self.started is not None:
            stud.expect_from(self.started)
        return stud

    def _stud_from_frame(self, status: StudStatus) -> StudMachine:
        kind = status.area_kind
        area = AREA_NAMES[kind] if kind in (AreaKind.BAY, AreaKind.NO_PARKING) else "unassigned"
        return self._add_stud(status.stud_id, area, status.area_id)

    # -- input -----------------------------------------------------------------------------------

    def start(self, t: float) -> None:
        """Begin at ``t`` (the first record's time): the away timeouts run from here."""
        self.started = self.now = t
        for stud in self.studs.values():
            stud.expect_from(t)
        tick = self.config.tick_s
        self._next_tick = t + tick
        self._next_telemetry = t + self.config.telemetry_interval_s
        self._next_snapshot = t + self.config.snapshot_interval_s

    def feed(self, record: AdvertisementRecord) -> None:
        """One advertisement: decode it, update the stud it came from and its area."""
        t = record.t
        if self.started is None:
            self.start(t)
        self.records += 1
        if self.heard is None or t > self.heard:
            self.heard = t
        status = decode_advertisement(record.data, self.skips).stud
        if status is not None:
            stud = self.studs.get(status.stud_id)
            if stud is None:
                stud = self._stud_from_frame(status)
            self.by_address[record.address] = stud
            due, changed = stud.feed(t, record.rssi, status)
            if due:
                self._stud_events(stud, due, t)
            if changed:
                self._area_changed(stud, t)
        else:
            # iBeacon or Eddystone from a stud we know by its address: it is alive.
            known = self.by_address.get(record.address)
            if known is not None:
                due = known.heard(t, record.rssi)
                if due:
                    self._stud_events(known, due, t)
        if t >= self._next_tick:
            self.tick(t)

    def tick(self, now: float) -> None:
        """Judge what depends on time alone: timeouts, holds, periodic reports."""
        if self.started is None:
            return
        if self.now is None or now > self.now:
            self.now = now
        for stud in self.studs.values():
            due = stud.tick(now)
            if due:
                self._stud_events(stud, due, now)
        for bay in self.bays.values():
            for kind in bay.update(now):
                self._bay_event(bay, kind, now)
        if now >= self._next_telemetry:
            self._telemetry(now)
            self._next_telemetry = now + self.config.telemetry_interval_s
        if now >= self._next_snapshot:
            self.events.append(self.snapshot(now))
            self._next_snapshot = now + self.config.snapshot_interval_s
        self._next_tick = now + self.config.tick_s

    def finish(self) -> None:
        """The source ended: judge up to its last record, then report the state as it
        stands. Records are judged between ticks (one per ``tick_s``), so without that
        last tick the report would be dated up to a tick before records it includes."""
        if self.now is None:
            return
        if self.heard is not None and self.heard > self.now:
            self.tick(self.heard)
        self._telemetry(self.now)
        self.events.append(self.snapshot(self.now))

    def take(self) -> tuple[list[Outgoing], list[Reading]]:
        """What is due to be sent, once."""
        events, readings = self.events, self.readings
        self.events, self.readings = [], []
        return events, readings

    # -- output ----------------------------------------------------------------------------------

    def us(self, t: float) -> int:
        return int((t + self.epoch_offset_s) * 1_000_000)

    def _area_changed(self, stud: StudMachine, t: float) -> None:
        if stud.area == "bay":
            bay = self.bays[stud.area_id]
            for kind in bay.update(t):
                self._bay_event(bay, kind, t)
        elif stud.area == "no_parking":
            zone = self.zones[stud.area_id]
            for kind in zone.update():
                data = p.ZoneOccupancy(
                    zone=zone.zone_id,
                    name=zone.name or None,
                    bikes=zone.bikes,
                    studs=[s.stud_id for s in zone.studs if s.bikes.accepted > 0],
                    at_us=self.us(t),
                )
                self._emit(kind, f"zone-{zone.zone_id}", data)

    def _bay_event(self, bay: BayMachine, kind: str, t: float) -> None:
        data = p.BayOccupancy(
            bay=bay.bay_id,
            name=bay.name or None,
            bikes=bay.bikes,
            capacity=bay.capacity,
            at_us=self.us(t),
        )
        self._emit(kind, f"bay-{bay.bay_id}", data)

    def _stud_events(self, stud: StudMachine, kinds: list[str], t: float) -> None:
        for kind in kinds:
            data = p.StudHealth(
                stud=stud.stud_id,
                area=stud.area,
                area_id=stud.area_id,
                at_us=self.us(t),
                last_seen_us=None if stud.last_seen is None else self.us(stud.last_seen),
                battery_mv=stud.battery_mv,
                rssi_dbm=None if stud.rssi is None else round(stud.rssi, 1),
            )
            self._emit(kind, f"stud-{stud.stud_id}", data)

    def _emit(self, kind: str, source: str, data: BaseModel) -> None:
        self.events.append(Outgoing(kind, _SEVERITY.get(kind, Severity.INFO), source, data))

    def _telemetry(self, now: float) -> None:
        ts = self.us(now)
        out = self.readings
        for bay in self.bays.values():
            tags = {"bay": str(bay.bay_id)}
            out.append(Reading(ts=ts, field="bay_bikes", value=float(bay.bikes), tags=tags))
        for zone in self.zones.values():
            tags = {"zone": str(zone.zone_id)}
            out.append(Reading(ts=ts, field="zone_bikes", value=float(zone.bikes), tags=tags))
        for stud in self.studs.values():
            if not stud.online or stud.rssi is None:
                continue
            tags = {"stud": str(stud.stud_id)}
            out.append(Reading(ts=ts, field="stud_rssi_dbm", value=round(stud.rssi, 1), tags=tags))
            if stud.battery_mv is not None:
                out.append(
                    Reading(ts=ts, field="stud_battery_mv", value=float(stud.battery_mv), tags=tags)
                )

    def snapshot(self, now: float) -> Outgoing:
        """Every bay, zone and stud as they stand at ``now``."""
        data = p.ParkingSnapshot(
            at_us=self.us(now),
            bays=[
                p.BayState(
                    bay=b.bay_id,
                    name=b.name or None,
                    capacity=b.capacity,
                    bikes=b.bikes,
                    studs_total=len(b.studs),
                    studs_healthy=sum(1 for s in b.studs if s.healthy),
                    over_capacity=b.over,
                )
                for b in self.bays.values()
            ],
            zones=[
                p.ZoneState(zone=z.zone_id, name=z.name or None, bikes=z.bikes)
                for z in self.zones.values()
            ],
            studs=[
                p.StudState(
                    stud=s.stud_id,
                    area=s.area,
                    area_id=s.area_id,
                    online=s.online is True,
                    last_seen_us=None if s.last_seen is None else self.us(s.last_seen),
                    battery_mv=s.battery_mv,
                    rssi_dbm=None if s.rssi is None else round(s.rssi, 1),
                    tamper=s.tamper,
                    low_battery=s.low_battery,
                    bikes=s.bikes.accepted,
                )
                for s in self.studs.values()
            ],
        )
        return Outgoing(p.SNAPSHOT, Severity.INFO, "parking", data, steady=True)
