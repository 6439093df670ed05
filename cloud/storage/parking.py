"""Parking bays and studs in SQL, as their boxes report them: a snapshot sets every row
of its box, a stud or bay event the row it names. A row only moves forward in the box's
time (``as_of_us``): snapshots travel behind alarms, so an older one may arrive later."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.storage.tables import ParkingBayRow, ParkingStudRow
from wire import Event
from wire import parking as p


def record_parking(session: Session, *, items: Sequence[tuple[Event, BaseModel, str]]) -> None:
    """Apply parking events ``(event, typed data, site)`` in arrival order."""
    for event, data, site in items:
        if isinstance(data, p.ParkingSnapshot):
            _snapshot(session, data, site=site, box_id=event.device_id)
        elif isinstance(data, p.StudHealth):
            _stud_event(session, event.type, data, site=site, box_id=event.device_id)
        elif isinstance(data, p.BayOccupancy):
            _bay_event(session, event.type, data, site=site, box_id=event.device_id)


def _snapshot(session: Session, data: p.ParkingSnapshot, *, site: str, box_id: str) -> None:
    at = data.at_us
    for bay in data.bays:
        row = session.get(ParkingBayRow, (site, bay.bay))
        if row is None:
            row = ParkingBayRow(site=site, bay_id=bay.bay, as_of_us=at)
            session.add(row)
        elif row.as_of_us > at:
            continue
        row.box_id, row.name, row.capacity, row.bikes = box_id, bay.name, bay.capacity, bay.bikes
        row.studs_total, row.studs_healthy = bay.studs_total, bay.studs_healthy
        row.over_capacity, row.as_of_us = bay.over_capacity, at
    for stud in data.studs:
        srow = _stud_row(session, stud.stud, site=site, box_id=box_id, at=at)
        if srow.as_of_us > at:
            continue
        srow.site, srow.box_id, srow.area, srow.area_id = site, box_id, stud.area, stud.area_id
        srow.online, srow.last_seen_us = stud.online, stud.last_seen_us
        srow.battery_mv, srow.rssi_dbm = stud.battery_mv, stud.rssi_dbm
        srow.tamper, srow.low_battery, srow.bikes = stud.tamper, stud.low_battery, stud.bikes
        srow.as_of_us = at


def _stud_row(session: Session, stud_id: int, *, site: str, box_id: str, at: int) -> ParkingStudRow:
    row = session.get(ParkingStudRow, stud_id)
    if row is None:
        row = ParkingStudRow(
            stud_id=stud_id,
            site=site,
            box_id=box_id,
            area="unassigned",
            area_id=0,
            online=True,
            tamper=False,
            low_battery=False,
            bikes=0.0,
            as_of_us=at,
        )
        session.add(row)
    return row


_STUD_FLAGS = {
    p.STUD_OFFLINE: ("online", False),
    p.STUD_BACK: ("online", True),
    p.LOW_BATTERY: ("low_battery", True),
    p.BATTERY_OK: ("low_battery", False),
    p.TAMPER: ("tamper", True),
    p.TAMPER_CLEAR: ("tamper", False),
}


def _stud_event(
    session: Session, type_: str, data: p.StudHealth, *, site: str, box_id: str
) -> None:
    row = _stud_row(session, data.stud, site=site, box_id=box_id, at=data.at_us)
    if row.as_of_us > data.at_us:
        return
    name, value = _STUD_FLAGS[type_]
    setattr(row, name, value)
    row.site, row.box_id, row.area, row.area_id = site, box_id, data.area, data.area_id
    if data.last_seen_us is not None:
        row.last_seen_us = data.last_seen_us
    if data.battery_mv is not None:
        row.battery_mv = data.battery_mv
    if data.rssi_dbm is not None:
        row.rssi_dbm = data.rssi_dbm
    row.as_of_us = data.at_us


def _bay_event(
    session: Session, type_: str, data: p.BayOccupancy, *, site: str, box_id: str
) -> None:
    row = session.get(ParkingBayRow, (site, data.bay))
    if row is None:
        row = ParkingBayRow(
            site=site, bay_id=data.bay, studs_total=0, studs_healthy=0, as_of_us=data.at_us
        )
        session.add(row)
    elif row.as_of_us > data.at_us:
        return
    row.box_id, row.name, row.capacity, row.bikes = box_id, data.name, data.capacity, data.bikes
    row.over_capacity = type_ == p.OVER_CAPACITY
    row.as_of_us = data.at_us


# -- reading (the API) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BayView:
    row: ParkingBayRow
    studs_total: int
    studs_healthy: int


def stud_health(row: ParkingStudRow) -> str:
    """The worst of what is wrong with a stud: offline, tampered, low battery, or ok."""
    if not row.online:
        return "offline"
    if row.tamper:
        return "tampered"
    if row.low_battery:
        return "low_battery"
    return "ok"


def list_studs(
    session: Session, *, site: str | None = None, needs_maintenance: bool = False
) -> list[ParkingStudRow]:
    query = select(ParkingStudRow).order_by(ParkingStudRow.stud_id)
    if site is not None:
        query = query.where(ParkingStudRow.site == site)
    rows = list(session.scalars(query))
    if needs_maintenance:
        rows = [r for r in rows if stud_health(r) != "ok"]
    return rows


def list_bays(session: Session, *, site: str | None = None) -> list[BayView]:
    """Bays with their studs counted from the stud rows (events move those at once)."""
    query = select(ParkingBayRow).order_by(ParkingBayRow.site, ParkingBayRow.bay_id)
    if site is not None:
        query = query.where(ParkingBayRow.site == site)
    bays = list(session.scalars(query))
    studs = list_studs(session, site=site)
    out = []
    for bay in bays:
        mine = [
            s for s in studs if s.site == bay.site and s.area == "bay" and s.area_id == bay.bay_id
        ]
        healthy = sum(1 for s in mine if stud_health(s) == "ok")
        out.append(BayView(bay, len(mine), healthy))
    return out
