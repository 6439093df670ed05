"""Device events → what they do to alerts. Pure: no SQL, no clock."""

from __future__ import annotations

from pydantic import BaseModel

from cloud.alerts.actions import Action, Clear, Confirm, Key, Raise
from cloud.alerts.checkout_rules import checkout_actions
from cloud.alerts.parking_rules import parking_actions
from cloud.alerts.site_map import SiteMap
from wire import Event
from wire import fire as f

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _where(site_map: SiteMap, zone: str) -> str:
    z = site_map.zone(zone)
    b = site_map.building_of_zone(zone)
    if z is None or b is None:
        return zone
    floor = f" {z.floor}F" if z.floor is not None else ""
    label = f" {z.label}" if z.label else ""
    return f"{b.name}{floor}{label}"


__all__ = ["SEVERITY_RANK", "Action", "Clear", "Confirm", "Key", "Raise", "actions_for"]


def actions_for(
    event: Event, data: BaseModel | None, *, site: str, site_map: SiteMap
) -> list[Action]:
    """What a device event does to alerts; [] for events that raise none."""
    if data is not None and event.type.startswith("parking."):
        return parking_actions(event, data, site=site)
    if data is not None and event.type.startswith("checkout."):
        return checkout_actions(event, data, site=site)
    return _fire_actions(event, data, site=site, site_map=site_map)


def _fire_actions(
    event: Event, data: BaseModel | None, *, site: str, site_map: SiteMap
) -> list[Action]:
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
