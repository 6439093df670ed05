"""Alerts: read by anyone; fire alerts are the fire team's to act on, parking and
supervision alerts the operations centre's (operators); stations act on their own
dispatches; wardens (fire team or station) enter headcounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket

from cloud.api.auth import (
    Anyone,
    FireTeamOrOperator,
    FireTeamOrStation,
    Operator,
    Principal,
    Station,
)
from cloud.api.deps import ServicesDep, SessionDep
from cloud.api.params import SqlId, SqlIdQuery
from cloud.api.schemas import (
    AlertChange,
    AlertDetail,
    AlertPublic,
    DispatchIn,
    DispatchPublic,
    HeadcountIn,
    HeadcountPublic,
    NoteIn,
    NotificationPublic,
    StationProposal,
    as_utc,
)
from cloud.storage import alerts
from cloud.storage.tables import Alert
from cloud.storage.tokens import Role

router = APIRouter(tags=["alerts"])


def _public(alert: Alert) -> AlertPublic:
    return AlertPublic.model_validate(alerts.snapshot(alert))


def _may_act(who: Principal, alert: Alert) -> None:
    needed = Role.FIRE_TEAM if alert.category == "fire" else Role.OPERATOR
    if who.role is not needed:
        raise HTTPException(403, f"{alert.category} alerts are for role {needed.value}")


def _fail(exc: alerts.AlertActionError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


@router.get("/api/v1/alerts", response_model=list[AlertPublic])
def list_alerts(
    session: SessionDep,
    who: Anyone,
    state: Annotated[str, Query(pattern="^(open|all)$")] = "open",
    category: Annotated[str | None, Query(pattern="^(fire|parking|supervision)$")] = None,
) -> list[AlertPublic]:
    """Newest activity first."""
    rows = alerts.list_alerts(session, open_only=state == "open", category=category)
    return [_public(a) for a in rows]


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail, responses={404: {}})
def get_alert(
    alert_id: SqlId, session: SessionDep, services: ServicesDep, who: Anyone
) -> AlertDetail:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    site_map = services.site_map
    building = site_map.building_of_zone(alert.zone)
    heads = [
        HeadcountPublic.model_validate(h) for h in alerts.headcounts_of(session, alert_id=alert_id)
    ]
    totals = HeadcountIn(
        **{k: sum(getattr(h, k) for h in heads) for k in ("moved", "settled", "counted", "injured")}
    )
    proposal = []
    if building is not None and alert.category == "fire":
        proposal = [
            StationProposal(
                station_id=s.id, name=s.name, kind=s.kind, distance_m=round(d, 1), staff=s.staff
            )
            for s, d in site_map.nearest_stations(building.id)
        ]
    return AlertDetail(
        alert=_public(alert),
        history=[
            AlertChange(
                id=e.id, at=as_utc(e.at) or e.at, kind=e.kind, actor=e.actor, detail=e.detail
            )
            for e in alerts.alert_history(session, alert_id)
        ],
        dispatches=[
            DispatchPublic.model_validate(d)
            for d in alerts.dispatches_of(session, alert_id=alert_id)
        ],
        headcounts=heads,
        headcount_totals=totals,
        building=building.id if building else None,
        proposal=proposal,
    )


def _changed(services: ServicesDep) -> None:
    """After a commit: this replica's consoles now, the other replicas through MQTT."""
    services.hub.notify_threadsafe()
    services.broker.wake_alerts()


@router.post(
    "/api/v1/alerts/{alert_id}/acknowledge",
    response_model=AlertPublic,
    responses={403: {}, 404: {}, 409: {}},
)
def acknowledge(
    alert_id: SqlId, session: SessionDep, services: ServicesDep, who: FireTeamOrOperator
) -> AlertPublic:
    try:
        _may_act(who, alerts.get_alert(session, alert_id))
        alert = alerts.acknowledge(session, alert_id=alert_id, actor=who.label)
    except alerts.AlertActionError as exc:
        raise _fail(exc) from None
    session.commit()
    _changed(services)
    return _public(alert)


@router.post(
    "/api/v1/alerts/{alert_id}/confirm",
    response_model=AlertPublic,
    responses={403: {}, 404: {}, 409: {}},
)
def confirm(
    alert_id: SqlId, session: SessionDep, services: ServicesDep, who: FireTeamOrOperator
) -> AlertPublic:
    """A person confirms the fire (the other way to meet GB 50116's rule for linkage)."""
    try:
        _may_act(who, alerts.get_alert(session, alert_id))
        alert = alerts.confirm(
            session, alert_id=alert_id, actor=who.label, site_map=services.site_map
        )
    except alerts.AlertActionError as exc:
        raise _fail(exc) from None
    session.commit()
    _changed(services)
    return _public(alert)


@router.post(
    "/api/v1/alerts/{alert_id}/dispatch",
    response_model=list[DispatchPublic],
    responses={403: {}, 404: {}, 409: {}, 422: {}},
)
def dispatch(
    alert_id: SqlId,
    body: DispatchIn,
    session: SessionDep,
    services: ServicesDep,
    who: FireTeamOrOperator,
) -> list[DispatchPublic]:
    try:
        _may_act(who, alerts.get_alert(session, alert_id))
        made = alerts.dispatch(
            session,
            alert_id=alert_id,
            stations=body.stations,
            actor=who.label,
            site_map=services.site_map,
        )
    except alerts.AlertActionError as exc:
        raise _fail(exc) from None
    session.commit()
    _changed(services)
    return [DispatchPublic.model_validate(d) for d in made]


@router.post(
    "/api/v1/alerts/{alert_id}/resolve",
    response_model=AlertPublic,
    responses={403: {}, 404: {}, 409: {}},
)
def resolve(
    alert_id: SqlId,
    body: NoteIn,
    session: SessionDep,
    services: ServicesDep,
    who: FireTeamOrOperator,
) -> AlertPublic:
    try:
        _may_act(who, alerts.get_alert(session, alert_id))
        alert = alerts.resolve(session, alert_id=alert_id, actor=who.label, note=body.note)
    except alerts.AlertActionError as exc:
        raise _fail(exc) from None
    session.commit()
    _changed(services)
    return _public(alert)


@router.post(
    "/api/v1/alerts/{alert_id}/work-order", status_code=202, responses={403: {}, 404: {}, 422: {}}
)
def work_order(
    alert_id: SqlId,
    body: NoteIn,
    session: SessionDep,
    services: ServicesDep,
    who: FireTeamOrOperator,
) -> dict[str, str]:
    """A work order to the property manager of the alert's building."""
    try:
        _may_act(who, alerts.get_alert(session, alert_id))
        channel = alerts.work_order(
            session, alert_id=alert_id, actor=who.label, note=body.note, site_map=services.site_map
        )
    except alerts.AlertActionError as exc:
        raise _fail(exc) from None
    session.commit()
    _changed(services)
    return {"channel": channel}


@router.put(
    "/api/v1/alerts/{alert_id}/headcount/{building}",
    response_model=HeadcountPublic,
    responses={404: {}, 422: {}},
)
def set_headcount(
    *,
    alert_id: SqlId,
    building: str,
    body: HeadcountIn,
    session: SessionDep,
    services: ServicesDep,
    who: FireTeamOrStation,
) -> HeadcountPublic:
    """A warden's counts for one building (the latest replaces the earlier)."""
    try:
        row = alerts.set_headcount(
            session,
            alert_id=alert_id,
            building=building,
            counts=body.model_dump(),
            actor=who.label,
            site_map=services.site_map,
        )
    except alerts.AlertActionError as exc:
        raise _fail(exc) from None
    session.commit()
    _changed(services)
    return HeadcountPublic.model_validate(row)


@router.get("/api/v1/dispatches", response_model=list[DispatchPublic])
def list_dispatches(
    session: SessionDep,
    who: Anyone,
    alert_id: SqlIdQuery = None,
) -> list[DispatchPublic]:
    """A station sees its own; everyone else sees all."""
    station = who.station_id if who.role is Role.STATION else None
    rows = alerts.dispatches_of(session, alert_id=alert_id, station_id=station)
    return [DispatchPublic.model_validate(d) for d in rows]


@router.post(
    "/api/v1/dispatches/{dispatch_id}/acknowledge",
    response_model=DispatchPublic,
    responses={403: {}, 404: {}, 409: {}},
)
def acknowledge_dispatch(
    dispatch_id: SqlId, session: SessionDep, services: ServicesDep, who: Station
) -> DispatchPublic:
    """The dispatched station says it is on its way (its own dispatches only)."""
    try:
        row = alerts.acknowledge_dispatch(
            session, dispatch_id=dispatch_id, station_id=who.station_id or "", actor=who.label
        )
    except alerts.AlertActionError as exc:
        raise _fail(exc) from None
    session.commit()
    _changed(services)
    return DispatchPublic.model_validate(row)


@router.get("/api/v1/sitemap")
def site_map(services: ServicesDep, who: Anyone) -> dict[str, object]:
    """Buildings, zones, stations, joint-defence teams (channel URLs left out)."""
    return services.site_map.model_dump(mode="json", exclude={"channels"})


@router.get("/api/v1/notifications", response_model=list[NotificationPublic])
def list_notifications(
    session: SessionDep, who: Operator, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[NotificationPublic]:
    """The delivery log, newest first."""
    return [
        NotificationPublic.model_validate(n) for n in alerts.notifications_log(session, limit=limit)
    ]


@router.websocket("/ws/alerts")
async def alerts_socket(ws: WebSocket) -> None:
    """Send ``{"token": "tsn_…", "after": LAST_ID}`` first; then every alert change after
    LAST_ID, a ``caught_up`` marker, and live changes as they happen."""
    services = ws.app.state.services
    await services.hub.serve(ws)
