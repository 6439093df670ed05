"""Device events → what they do to alerts. Pure: no SQL, no clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from cloud.alerts.site_map import SiteMap
from wire import Event
from wire import fire as f

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Key:
    site: str
    zone: str
    device: str
    type: str


@dataclass(frozen=True, slots=True)
class Raise:
    """Open an alert for ``key``, or count a repeat of the open one."""

    key: Key
    category: str
    severity: str
    title: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Clear:
    """The device says the condition is gone: clear the open alerts of these types."""

    site: str
    zone: str
    device: str
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Confirm:
    """The zone's fire is confirmed for linkage (two detectors, or a person)."""

    site: str
    zone: str
    by: str
    detectors: tuple[str, ...]


Action = Raise | Clear | Confirm


def _where(site_map: SiteMap, zone: str) -> str:
    z = site_map.zone(zone)
    b = site_map.building_of_zone(zone)
    if z is None or b is None:
        return zone
    floor = f" {z.floor}F" if z.floor is not None else ""
    label = f" {z.label}" if z.label else ""
    return f"{b.name}{floor}{label}"


def actions_for(
    event: Event, data: BaseModel | None, *, site: str, site_map: SiteMap
) -> list[Action]:
    """What a device event does to alerts; [] for events that raise none."""
    if isinstance(data, f.FireAlarm):
        if event.type == f.ALARM_RESTORE:
            return [Clear(site, data.zone, data.detector, (f.ALARM, f.PREALARM))]
        alarm = event.type == f.ALARM
        where = _where(site_map, data.zone)
        what = "Fire alarm" if alarm else "Fire pre-alarm"
        return [
            Raise(
                Key(site, data.zone, data.detector, event.type),
                "fire",
                "critical" if alarm else "warning",
                f"{what}: {where} ({data.detector}, {data.cause.value})",
                data.model_dump(mode="json"),
            )
        ]
    if isinstance(data, f.FireTrouble):
        kind = f"{f.TROUBLE}.{data.trouble.value}"
        if event.type == f.TROUBLE_RESTORE:
            return [Clear(site, data.zone, data.detector, (kind,))]
        trouble = data.trouble.value.replace("_", " ")
        return [
            Raise(
                Key(site, data.zone, data.detector, kind),
                "fire",
                "warning",
                f"Trouble: {trouble} at {_where(site_map, data.zone)} ({data.detector})",
                data.model_dump(mode="json"),
            )
        ]
    if isinstance(data, f.FireConfirmed):
        by = data.by or ("two detectors" if data.rule == "two_detectors" else "a person")
        return [Confirm(site, data.zone, by, tuple(data.detectors))]
    return []
