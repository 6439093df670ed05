"""Parking events → alerts of category ``parking`` (the operations centre's, not the
fire team's). Pure, like :mod:`cloud.alerts.rules`, which hands them here.

The alert's zone is where it is (``bay-3``, ``no-parking-1``), its device what it is
about (``stud-2004``, ``bay-3``); each raising type is cleared by its counterpart."""

from __future__ import annotations

from pydantic import BaseModel

from cloud.alerts.actions import Action, Clear, Key, Raise
from wire import Event
from wire import parking as p

CATEGORY = "parking"

# clearing type → the type it clears
_CLEARS = {
    p.STUD_BACK: p.STUD_OFFLINE,
    p.BATTERY_OK: p.LOW_BATTERY,
    p.TAMPER_CLEAR: p.TAMPER,
    p.OVER_CAPACITY_CLEAR: p.OVER_CAPACITY,
    p.NO_PARKING_CLEAR: p.NO_PARKING,
}
_STUD_TITLES = {
    p.STUD_OFFLINE: "Stud {stud} offline",
    p.LOW_BATTERY: "Stud {stud} battery low ({battery_mv} mV)",
    p.TAMPER: "Stud {stud} tampered with",
}


def _area(area: str, area_id: int) -> str:
    if area == "bay":
        return f"bay-{area_id}"
    if area == "no_parking":
        return f"no-parking-{area_id}"
    return "unassigned"


def parking_actions(event: Event, data: BaseModel, *, site: str) -> list[Action]:
    """What a parking event does to alerts; [] for the snapshot."""
    if isinstance(data, p.StudHealth):
        zone, device = _area(data.area, data.area_id), f"stud-{data.stud}"
        what = f"{data.area.replace('_', '-')} {data.area_id}"
        title = _STUD_TITLES.get(event.type, "").format(stud=data.stud, battery_mv=data.battery_mv)
        title = f"{title} ({what})"
    elif isinstance(data, p.BayOccupancy):
        zone = device = f"bay-{data.bay}"
        name = f" {data.name}" if data.name else ""
        title = f"Bay {data.bay}{name} over capacity: {data.bikes} bikes for {data.capacity}"
    elif isinstance(data, p.ZoneOccupancy):
        zone = device = f"no-parking-{data.zone}"
        name = f" ({data.name})" if data.name else ""
        title = f"Bike parked in no-parking zone {data.zone}{name}"
    else:
        return []
    cleared = _CLEARS.get(event.type)
    if cleared is not None:
        return [Clear(site, zone, device, (cleared,))]
    return [
        Raise(
            Key(site, zone, device, event.type),
            CATEGORY,
            "warning",
            title,
            data.model_dump(mode="json"),
        )
    ]
