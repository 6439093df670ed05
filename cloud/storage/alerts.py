"""Alerts in SQL: open, repeat, clear, confirm, acknowledge, dispatch, resolve, escalate —
each change logged (who, what, when) in ``alert_events``, which is also the live stream.

Device events are applied by the ingest inside its batch transaction, once per
message id; people's actions come through the API. Every function here runs inside
the caller's transaction and leaves the commit to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from cloud.alerts.rules import SEVERITY_RANK, Action, Clear, Confirm, Raise
from cloud.alerts.site_map import SiteMap
from cloud.storage.tables import (
    Alert,
    AlertEvent,
    Device,
    Dispatch,
    Headcount,
    Notification,
)

OPEN_STATES = ("new", "acknowledged", "dispatched")
SYSTEM = "system"


class AlertActionError(Exception):
    """A person's action that cannot be done; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def snapshot(alert: Alert) -> dict[str, Any]:
    """The alert as consoles see it (JSON-ready)."""
    return {
        "id": alert.id,
        "category": alert.category,
        "site": alert.site,
        "zone": alert.zone,
        "device": alert.device,
        "type": alert.type,
        "box_id": alert.box_id,
        "severity": alert.severity,
        "state": alert.state,
        "open": alert.is_open,
        "title": alert.title,
        "data": alert.data,
        "count": alert.count,
        "first_seen": iso(alert.first_seen),
        "last_seen": iso(alert.last_seen),
        "confirmed_at": iso(alert.confirmed_at),
        "confirmed_by": alert.confirmed_by,
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "dispatched_at": iso(alert.dispatched_at),
        "resolved_at": iso(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "cleared_at": iso(alert.cleared_at),
        "escalated_at": iso(alert.escalated_at),
    }


def _log(
    session: Session,
    alert: Alert,
    kind: str,
    *,
    actor: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    msg_id: str | None = None,
) -> AlertEvent:
    session.flush()  # the alert needs its id, and the snapshot its values
    event = AlertEvent(
        alert_id=alert.id,
        at=at,
        kind=kind,
        actor=actor,
        detail=detail or {},
        snapshot=snapshot(alert),
        source_msg_id=msg_id,
    )
    session.add(event)
    return event


def _enqueue(
    session: Session,
    *,
    channel: str,
    alert: Alert,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        Notification(
            channel=channel,
            alert_id=alert.id,
            kind=kind,
            state="pending",
            attempts=0,
            next_attempt_at=at,
            created_at=at,
            body={"kind": kind, "alert": snapshot(alert), "detail": detail or {}},
        )
    )


def _notify_subscribers(
    session: Session,
    site_map: SiteMap,
    alert: Alert,
    kind: str,
    *,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    for channel in site_map.channels:
        if alert.category in channel.categories and kind in channel.events:
            _enqueue(session, channel=channel.id, alert=alert, kind=kind, at=at, detail=detail)


# -- device events (the ingest) ---------------------------------------------------------------


def already_applied(session: Session, msg_id: str) -> bool:
    return bool(session.scalar(select(exists().where(AlertEvent.source_msg_id == msg_id))))


def apply_actions(
    session: Session,
    *,
    actions: Sequence[Action],
    at: datetime,
    box_id: str,
    msg_id: str,
    site_map: SiteMap,
) -> int:
    """Apply what one device message does to alerts; returns the changes logged.
    A redelivered message changes nothing (its id is on the changes it made)."""
    if not actions or already_applied(session, msg_id):
        return 0
    logged = 0
    for action in actions:
        if isinstance(action, Raise):
            logged += _raise(
                session, action, at=at, box_id=box_id, msg_id=msg_id, site_map=site_map
            )
        elif isinstance(action, Clear):
            logged += _clear(session, action, at=at, msg_id=msg_id)
        else:
            logged += _confirm(session, action, at=at, msg_id=msg_id, site_map=site_map)
    return logged


def _open_alert(session: Session, site: str, zone: str, device: str, type_: str) -> Alert | None:
    return session.scalar(
        select(Alert)
        .where(
            Alert.site == site,
            Alert.zone == zone,
            Alert.device == device,
            Alert.type == type_,
            Alert.is_open,
        )
        .with_for_update()
    )


def _raise(
    session: Session, action: Raise, *, at: datetime, box_id: str, msg_id: str, site_map: SiteMap
) -> int:
    k = action.key
    alert = _open_alert(session, k.site, k.zone, k.device, k.type)
    if alert is not None:
        alert.count += 1
        alert.last_seen = at
        alert.data = action.data
        if SEVERITY_RANK[action.severity] > SEVERITY_RANK[alert.severity]:
            alert.severity = action.severity
        _log(session, alert, "repeated", actor=f"device:{box_id}", at=at, msg_id=msg_id)
        return 1
    alert = Alert(
        category=action.category,
        site=k.site,
        zone=k.zone,
        device=k.device,
        type=k.type,
        box_id=box_id,
        severity=action.severity,
        state="new",
        is_open=True,
        title=action.title,
        data=action.data,
        count=1,
        first_seen=at,
        last_seen=at,
    )
    session.add(alert)
    _log(session, alert, "opened", actor=f"device:{box_id}", at=at, msg_id=msg_id)
    _notify_subscribers(session, site_map, alert, "opened", at=at)
    building = site_map.building_of_zone(k.zone)
    if k.type.startswith("fire.trouble.") and building and building.property_manager:
        # Troubles are maintenance: the building's property manager gets a work order.
        _enqueue(
            session,
            channel=building.property_manager,
            alert=alert,
            kind="work_order",
            at=at,
            detail={"building": building.name, "by": SYSTEM},
        )
    return 1


def _clear(session: Session, action: Clear, *, at: datetime, msg_id: str) -> int:
    alerts = session.scalars(
        select(Alert).where(
            Alert.site == action.site,
            Alert.zone == action.zone,
            Alert.device == action.device,
            Alert.type.in_(action.types),
            Alert.is_open,
            Alert.cleared_at.is_(None),
        )
    ).all()
    for alert in alerts:
        alert.cleared_at = at
        if alert.state == "new":
            # Nobody is on it yet: cleared by the device closes it.
            alert.state, alert.is_open = "cleared", False
        _log(session, alert, "cleared", actor="device", at=at, msg_id=msg_id)
    return len(alerts)


def _confirm(
    session: Session, action: Confirm, *, at: datetime, msg_id: str, site_map: SiteMap
) -> int:
    alerts = session.scalars(
        select(Alert).where(
            Alert.site == action.site,
            Alert.zone == action.zone,
            Alert.type == "fire.alarm",
            Alert.is_open,
            Alert.confirmed_at.is_(None),
        )
    ).all()
    for alert in alerts:
        _mark_confirmed(
            session,
            alert,
            by=action.by,
            at=at,
            site_map=site_map,
            msg_id=msg_id,
            detail={"detectors": list(action.detectors)},
        )
    return len(alerts)


def _mark_confirmed(
    session: Session,
    alert: Alert,
    *,
    by: str,
    at: datetime,
    site_map: SiteMap,
    msg_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    alert.confirmed_at, alert.confirmed_by = at, by
    _log(session, alert, "confirmed", actor=by, at=at, msg_id=msg_id, detail=detail)
    _notify_subscribers(session, site_map, alert, "confirmed", at=at, detail=detail)


# -- people (the API) ----------------------------------------------------------------------------


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise AlertActionError(404, f"no alert {alert_id}")
    return alert


def _require_open(alert: Alert, action: str) -> None:
    if not alert.is_open:
        raise AlertActionError(409, f"alert {alert.id} is {alert.state}: cannot {action} it")


def acknowledge(session: Session, *, alert_id: int, actor: str) -> Alert:
    alert = get_alert(session, alert_id)
    _require_open(alert, "acknowledge")
    if alert.state != "new":
        raise AlertActionError(409, f"alert {alert_id} is already {alert.state}")
    now = datetime.now(UTC)
    alert.state, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", now, actor
    _log(session, alert, "acknowledged", actor=actor, at=now)
    return alert


def confirm(session: Session, *, alert_id: int, actor: str, site_map: SiteMap) -> Alert:
    """A person confirms the fire: linkage may go ahead on one detector."""
    alert = get_alert(session, alert_id)
    _require_open(alert, "confirm")
    if alert.category != "fire" or not alert.type.startswith("fire.") or "trouble" in alert.type:
        raise AlertActionError(409, "only a fire alarm or pre-alarm can be confirmed")
    if alert.confirmed_at is not None:
        raise AlertActionError(409, f"alert {alert_id} is already confirmed")
    _mark_confirmed(session, alert, by=actor, at=datetime.now(UTC), site_map=site_map)
    return alert


def dispatch(
    session: Session, *, alert_id: int, stations: Sequence[str], actor: str, site_map: SiteMap
) -> list[Dispatch]:
    alert = get_alert(session, alert_id)
    _require_open(alert, "dispatch to")
    if not stations:
        raise AlertActionError(422, "name at least one station")
    unknown = [s for s in stations if site_map.station(s) is None]
    if unknown:
        raise AlertActionError(422, f"no station {', '.join(unknown)} on the site map")
    already = set(session.scalars(select(Dispatch.station_id).where(Dispatch.alert_id == alert_id)))
    now = datetime.now(UTC)
    made = []
    for station_id in dict.fromkeys(stations):  # in order, once each
        if station_id in already:
            continue
        made.append(
            Dispatch(
                alert_id=alert_id,
                station_id=station_id,
                state="requested",
                requested_at=now,
                requested_by=actor,
            )
        )
    if not made:
        raise AlertActionError(409, "those stations are already dispatched")
    session.add_all(made)
    if alert.state == "new":
        alert.acknowledged_at, alert.acknowledged_by = now, actor
    alert.state, alert.dispatched_at = "dispatched", alert.dispatched_at or now
    _log(
        session,
        alert,
        "dispatched",
        actor=actor,
        at=now,
        detail={"stations": [d.station_id for d in made]},
    )
    for d in made:
        station = site_map.station(d.station_id)
        if station is not None and station.channel:
            _enqueue(
                session,
                channel=station.channel,
                alert=alert,
                kind="dispatch",
                at=now,
                detail={"station": station.id, "station_name": station.name},
            )
    return made


def acknowledge_dispatch(
    session: Session, *, dispatch_id: int, station_id: str, actor: str
) -> Dispatch:
    d = session.get(Dispatch, dispatch_id, with_for_update=True)
    if d is None:
        raise AlertActionError(404, f"no dispatch {dispatch_id}")
    if d.station_id != station_id:
        raise AlertActionError(403, f"dispatch {dispatch_id} is for another station")
    if d.state != "requested":
        raise AlertActionError(409, f"dispatch {dispatch_id} is already {d.state}")
    now = datetime.now(UTC)
    d.state, d.acknowledged_at, d.acknowledged_by = "acknowledged", now, actor
    alert = get_alert(session, d.alert_id)
    _log(
        session,
        alert,
        "station_acknowledged",
        actor=actor,
        at=now,
        detail={"station": station_id, "dispatch": dispatch_id},
    )
    return d


def resolve(session: Session, *, alert_id: int, actor: str, note: str | None) -> Alert:
    alert = get_alert(session, alert_id)
    _require_open(alert, "resolve")
    now = datetime.now(UTC)
    alert.state, alert.is_open, alert.resolved_at, alert.resolved_by = (
        "resolved",
        False,
        now,
        actor,
    )
    _log(session, alert, "resolved", actor=actor, at=now, detail={"note": note} if note else {})
    return alert


def set_headcount(
    session: Session,
    *,
    alert_id: int,
    building: str,
    counts: dict[str, int],
    actor: str,
    site_map: SiteMap,
) -> Headcount:
    alert = get_alert(session, alert_id)
    if site_map.building(building) is None:
        raise AlertActionError(422, f"no building {building!r} on the site map")
    now = datetime.now(UTC)
    row = session.get(Headcount, (alert_id, building))
    if row is None:
        row = Headcount(
            alert_id=alert_id, building=building, updated_at=now, updated_by=actor, **counts
        )
        session.add(row)
    else:
        for name, value in counts.items():
            setattr(row, name, value)
        row.updated_at, row.updated_by = now, actor
    _log(session, alert, "headcount", actor=actor, at=now, detail={"building": building, **counts})
    return row


def work_order(
    session: Session, *, alert_id: int, actor: str, note: str | None, site_map: SiteMap
) -> str:
    """A work order to the property manager of the alert's building; returns the channel."""
    alert = get_alert(session, alert_id)
    building = site_map.building_of_zone(alert.zone)
    if building is None or building.property_manager is None:
        raise AlertActionError(422, f"zone {alert.zone} has no building with a property manager")
    now = datetime.now(UTC)
    detail = {"building": building.name, "note": note or "", "by": actor}
    _enqueue(
        session,
        channel=building.property_manager,
        alert=alert,
        kind="work_order",
        at=now,
        detail=detail,
    )
    _log(session, alert, "work_order", actor=actor, at=now, detail=detail)
    return building.property_manager


# -- time (the API's scheduler) ------------------------------------------------------------------


def escalate_due(session: Session, *, after: timedelta, site_map: SiteMap) -> int:
    """Fire alerts nobody acknowledged within ``after``: escalate each once. Conditional
    updates: with several API replicas, one of them wins each alert."""
    now = datetime.now(UTC)
    due = session.scalars(
        select(Alert.id).where(
            Alert.category == "fire",
            Alert.state == "new",
            Alert.is_open,
            Alert.escalated_at.is_(None),
            Alert.first_seen <= now - after,
        )
    ).all()
    done = 0
    for alert_id in due:
        won = session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.state == "new", Alert.escalated_at.is_(None))
            .values(escalated_at=now, severity="critical")
        )
        if not won.rowcount:  # type: ignore[attr-defined]
            continue
        alert = get_alert(session, alert_id)
        waited = (
            now
            - (
                alert.first_seen
                if alert.first_seen.tzinfo
                else alert.first_seen.replace(tzinfo=UTC)
            )
        ).total_seconds()
        _log(
            session,
            alert,
            "escalated",
            actor=SYSTEM,
            at=now,
            detail={"unacknowledged_s": round(waited, 1)},
        )
        _notify_subscribers(session, site_map, alert, "escalated", at=now)
        done += 1
    return done


def supervise(
    session: Session, *, missed: int, default_interval_s: float, site_map: SiteMap
) -> int:
    """Open a supervision alert for each box ``missed`` heartbeats late; clear the ones
    heard from again. Returns the changes logged."""
    now = datetime.now(UTC)
    changes = 0
    for device in session.scalars(select(Device)).all():
        interval = device.heartbeat_interval_s or default_interval_s
        last = device.last_seen if device.last_seen.tzinfo else device.last_seen.replace(tzinfo=UTC)
        late = (now - last).total_seconds() > missed * interval
        site = site_map.site_of_box(device.device_id) or device.site or "default"
        alert = session.scalar(
            select(Alert).where(
                Alert.site == site,
                Alert.zone == "-",
                Alert.device == device.device_id,
                Alert.type == "supervision.silent",
                Alert.is_open,
            )
        )
        if late and alert is None:
            alert = Alert(
                category="supervision",
                site=site,
                zone="-",
                device=device.device_id,
                type="supervision.silent",
                box_id=device.device_id,
                severity="warning",
                state="new",
                is_open=True,
                title=f"Box {device.device_id} is silent ({missed} heartbeats missed)",
                data={"last_seen": iso(last), "heartbeat_interval_s": interval},
                count=1,
                first_seen=now,
                last_seen=now,
            )
            session.add(alert)
            _log(session, alert, "opened", actor=SYSTEM, at=now)
            _notify_subscribers(session, site_map, alert, "opened", at=now)
            changes += 1
        elif not late and alert is not None and alert.cleared_at is None:
            alert.cleared_at = now
            if alert.state == "new":
                alert.state, alert.is_open = "cleared", False
            _log(session, alert, "cleared", actor=f"device:{device.device_id}", at=now)
            changes += 1
    return changes


# -- reading ----------------------------------------------------------------------------------


def events_after(session: Session, *, after: int, limit: int = 1000) -> Sequence[AlertEvent]:
    return session.scalars(
        select(AlertEvent).where(AlertEvent.id > after).order_by(AlertEvent.id).limit(limit)
    ).all()


def latest_event_id(session: Session) -> int:
    return int(session.scalar(select(func.max(AlertEvent.id))) or 0)


def list_alerts(
    session: Session, *, open_only: bool = True, category: str | None = None, limit: int = 500
) -> Sequence[Alert]:
    query = select(Alert).order_by(Alert.last_seen.desc()).limit(limit)
    if open_only:
        query = query.where(Alert.is_open)
    if category is not None:
        query = query.where(Alert.category == category)
    return session.scalars(query).all()


def alert_history(session: Session, alert_id: int) -> Sequence[AlertEvent]:
    return session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    ).all()


def dispatches_of(
    session: Session, *, alert_id: int | None = None, station_id: str | None = None
) -> Sequence[Dispatch]:
    query = select(Dispatch).order_by(Dispatch.id)
    if alert_id is not None:
        query = query.where(Dispatch.alert_id == alert_id)
    if station_id is not None:
        query = query.where(Dispatch.station_id == station_id)
    return session.scalars(query).all()


def headcounts_of(session: Session, *, alert_id: int) -> Sequence[Headcount]:
    return session.scalars(
        select(Headcount).where(Headcount.alert_id == alert_id).order_by(Headcount.building)
    ).all()


def notifications_log(session: Session, *, limit: int = 100) -> Sequence[Notification]:
    return session.scalars(select(Notification).order_by(Notification.id.desc()).limit(limit)).all()
