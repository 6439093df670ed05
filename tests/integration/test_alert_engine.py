"""The alert engine in SQL (SQLite and PostgreSQL): device events, people, time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from cloud.alerts.rules import actions_for
from cloud.alerts.site_map import SiteMap
from cloud.storage import alerts
from cloud.storage.devices import Seen, record_activity
from cloud.storage.sql import make_engine, session_factory
from cloud.storage.tables import Alert, AlertEvent, Device, Notification
from tianshan.servers.postgres import PostgresServer
from wire import Event
from wire import fire as f
from wire.checkout import MODEL_CHECK, TRANSACTION, CheckoutTransaction, ModelCheck
from wire.events import event_data

pytestmark = pytest.mark.integration

SITE_MAP = SiteMap.model_validate(
    {
        "buildings": [
            {
                "id": "B1",
                "name": "Lane 800 No.1",
                "site": "lane800",
                "x": 0,
                "y": 0,
                "floors": 6,
                "property_manager": "pm",
            },
            {
                "id": "MALL",
                "name": "Tianshan Mall",
                "site": "mall",
                "kind": "commercial",
                "x": 400,
                "y": 0,
            },
        ],
        "zones": [{"id": "B1-3F", "building": "B1", "floor": 3, "label": "corridor"}],
        "stations": [
            {
                "id": "st-lane800",
                "name": "Lane 800",
                "kind": "residential",
                "x": 50,
                "y": 0,
                "channel": "st",
            },
            {"id": "st-far", "name": "Far compound", "kind": "residential", "x": 2000, "y": 0},
            {"id": "st-mall", "name": "Mall", "kind": "commercial", "x": 390, "y": 10},
            {"id": "st-tower", "name": "Tower", "kind": "commercial", "x": 900, "y": 0},
        ],
        "boxes": [{"id": "fire-box-1", "site": "lane800", "building": "B1"}],
        "channels": [
            {
                "id": "command",
                "kind": "wechat_work",
                "url": "http://127.0.0.1:9/x",
                "events": ["opened", "escalated", "confirmed"],
            },
            {"id": "pm", "kind": "webhook", "url": "http://127.0.0.1:9/pm", "events": []},
            {"id": "st", "kind": "webhook", "url": "http://127.0.0.1:9/st", "events": []},
        ],
    }
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/a.sqlite"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"a_{uuid.uuid4().hex[:12]}")
    e = make_engine(url)
    yield e
    e.dispose()


def fire_event(type_: str, data: object, *, seq: int = 0) -> Event:
    return Event(device_id="fire-box-1", seq=seq, type=type_, data=data.model_dump(mode="json"))  # type: ignore[attr-defined]


def deliver(engine: Engine, event: Event) -> int:
    data = event_data(event)
    actions = actions_for(event, data, site="lane800", site_map=SITE_MAP)
    with session_factory(engine).begin() as s:
        return alerts.apply_actions(
            s,
            actions=actions,
            at=datetime.now(UTC),
            box_id=event.device_id,
            msg_id=event.msg_id,
            site_map=SITE_MAP,
        )


def alarm(detector: str, type_: str = f.ALARM) -> Event:
    return fire_event(
        type_,
        f.FireAlarm(
            zone="B1-3F", detector=detector, cause=f.Cause.OBSCURATION, value=3.4, threshold=3.0
        ),
    )


def open_alerts(s: Session) -> list[Alert]:
    return list(alerts.list_alerts(s))


def test_one_open_alert_per_key_repeats_count_and_redelivery_is_a_no_op(engine: Engine) -> None:
    first = alarm("det-1")
    assert deliver(engine, first) == 1
    assert deliver(engine, first) == 0  # redelivered: nothing new
    deliver(engine, alarm("det-1"))  # the detector alarms again
    deliver(engine, alarm("det-2"))
    with session_factory(engine)() as s:
        rows = {a.device: a for a in open_alerts(s)}
        assert set(rows) == {"det-1", "det-2"}
        assert rows["det-1"].count == 2
        assert rows["det-1"].title == "Fire alarm: Lane 800 No.1 3F corridor (det-1, obscuration)"
        assert [e.kind for e in alerts.alert_history(s, rows["det-1"].id)] == ["opened", "repeated"]
        # Subscribed channel "command" heard both openings, not the repeat.
        assert (
            s.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.channel == "command")
            )
            == 2
        )


def test_the_device_clears_a_new_alert_but_not_one_people_are_on(engine: Engine) -> None:
    deliver(engine, alarm("det-1"))
    deliver(engine, alarm("det-2"))
    with session_factory(engine).begin() as s:
        det2 = next(a for a in open_alerts(s) if a.device == "det-2")
        alerts.acknowledge(s, alert_id=det2.id, actor="fire_team:wang")
    restore = f.FireAlarm(zone="B1-3F", detector="det-1", cause=f.Cause.OBSCURATION)
    deliver(engine, fire_event(f.ALARM_RESTORE, restore))
    restore2 = f.FireAlarm(zone="B1-3F", detector="det-2", cause=f.Cause.OBSCURATION)
    deliver(engine, fire_event(f.ALARM_RESTORE, restore2))
    with session_factory(engine)() as s:
        states = {
            a.device: (a.state, a.is_open, a.cleared_at is not None)
            for a in s.scalars(select(Alert))
        }
    assert states == {"det-1": ("cleared", False, True), "det-2": ("acknowledged", True, True)}


def test_two_detectors_confirm_and_the_nearest_stations_of_both_kinds(engine: Engine) -> None:
    deliver(engine, alarm("det-1"))
    deliver(engine, alarm("det-2"))
    confirmed = f.FireConfirmed(zone="B1-3F", rule="two_detectors", detectors=["det-1", "det-2"])
    assert deliver(engine, fire_event(f.CONFIRMED, confirmed)) == 2
    with session_factory(engine)() as s:
        assert all(a.confirmed_by == "two detectors" for a in open_alerts(s))
    nearest = [(st.id, round(d)) for st, d in SITE_MAP.nearest_stations("B1", per_kind=1)]
    assert nearest == [("st-lane800", 50), ("st-mall", 390)]


def test_acknowledge_dispatch_station_acknowledges_resolve(engine: Engine) -> None:
    deliver(engine, alarm("det-1"))
    with session_factory(engine).begin() as s:
        a = open_alerts(s)[0]
        alerts.acknowledge(s, alert_id=a.id, actor="fire_team:wang")
        with pytest.raises(alerts.AlertActionError, match="already acknowledged"):
            alerts.acknowledge(s, alert_id=a.id, actor="fire_team:li")
        made = alerts.dispatch(
            s,
            alert_id=a.id,
            stations=["st-lane800", "st-mall"],
            actor="fire_team:wang",
            site_map=SITE_MAP,
        )
        with pytest.raises(alerts.AlertActionError) as unknown:
            alerts.dispatch(s, alert_id=a.id, stations=["nowhere"], actor="x", site_map=SITE_MAP)
        assert unknown.value.status == 422
        with pytest.raises(alerts.AlertActionError) as other:
            alerts.acknowledge_dispatch(
                s, dispatch_id=made[0].id, station_id="st-mall", actor="station:mall"
            )
        assert other.value.status == 403  # a station acts only on its own dispatches
        alerts.acknowledge_dispatch(
            s, dispatch_id=made[0].id, station_id="st-lane800", actor="station:lane800"
        )
        alerts.set_headcount(
            s,
            alert_id=a.id,
            building="B1",
            actor="station:lane800",
            counts={"moved": 40, "settled": 35, "counted": 38, "injured": 1},
            site_map=SITE_MAP,
        )
        alerts.resolve(s, alert_id=a.id, actor="fire_team:wang", note="kitchen smoke")
        with pytest.raises(alerts.AlertActionError) as closed:
            alerts.resolve(s, alert_id=a.id, actor="fire_team:wang", note=None)
        assert closed.value.status == 409
    with session_factory(engine)() as s:
        history = [(e.kind, e.actor) for e in alerts.alert_history(s, a.id)]
        assert history == [
            ("opened", "device:fire-box-1"),
            ("acknowledged", "fire_team:wang"),
            ("dispatched", "fire_team:wang"),
            ("station_acknowledged", "station:lane800"),
            ("headcount", "station:lane800"),
            ("resolved", "fire_team:wang"),
        ]
        # The dispatched station with a channel got an order.
        kinds = s.scalars(select(Notification.kind).where(Notification.channel == "st")).all()
        assert kinds == ["dispatch"]


def test_an_unacknowledged_alarm_escalates_once(engine: Engine) -> None:
    deliver(engine, alarm("det-1"))
    with session_factory(engine).begin() as s:
        assert alerts.escalate_due(s, after=timedelta(seconds=60), site_map=SITE_MAP) == 0
        s.execute(update(Alert).values(first_seen=datetime.now(UTC) - timedelta(seconds=61)))
    with session_factory(engine).begin() as s:
        assert alerts.escalate_due(s, after=timedelta(seconds=60), site_map=SITE_MAP) == 1
    with session_factory(engine).begin() as s:
        assert alerts.escalate_due(s, after=timedelta(seconds=60), site_map=SITE_MAP) == 0
        assert [e.kind for e in alerts.alert_history(s, 1)][-1] == "escalated"


def test_troubles_are_their_own_alerts_with_a_work_order(engine: Engine) -> None:
    low = f.FireTrouble(zone="B1-3F", detector="det-1", trouble=f.TroubleKind.LOW_BATTERY)
    deliver(engine, fire_event(f.TROUBLE, low))
    dirty = f.FireTrouble(zone="B1-3F", detector="det-1", trouble=f.TroubleKind.DIRTY_CHAMBER)
    deliver(engine, fire_event(f.TROUBLE, dirty))
    with session_factory(engine)() as s:
        assert sorted(a.type for a in open_alerts(s)) == [
            "fire.trouble.dirty_chamber",
            "fire.trouble.low_battery",
        ]
        orders = s.scalars(select(Notification.kind).where(Notification.channel == "pm")).all()
        assert orders == ["work_order", "work_order"]
    deliver(engine, fire_event(f.TROUBLE_RESTORE, low))
    with session_factory(engine)() as s:
        assert [a.type for a in open_alerts(s)] == ["fire.trouble.dirty_chamber"]


def test_a_silent_box_raises_a_supervision_alert_and_clears_when_heard(engine: Engine) -> None:
    now = datetime.now(UTC)
    with session_factory(engine).begin() as s:
        record_activity(s, seen={"fire-box-1": Seen(now, now, 1)})
        s.execute(
            update(Device).values(heartbeat_interval_s=10.0, last_seen=now - timedelta(seconds=31))
        )
    with session_factory(engine).begin() as s:
        assert alerts.supervise(s, missed=3, default_interval_s=30, site_map=SITE_MAP) == 1
        assert alerts.supervise(s, missed=3, default_interval_s=30, site_map=SITE_MAP) == 0
    with session_factory(engine).begin() as s:
        (silent,) = open_alerts(s)
        assert (silent.type, silent.site) == ("supervision.silent", "lane800")
        s.execute(update(Device).values(last_seen=datetime.now(UTC)))
    with session_factory(engine).begin() as s:
        assert alerts.supervise(s, missed=3, default_interval_s=30, site_map=SITE_MAP) == 1
        assert open_alerts(s) == []
        assert alerts.latest_event_id(s) == s.scalar(select(func.max(AlertEvent.id)))


def model_check(result: str, *, box: str = "checkout-1", seq: int = 0) -> Event:
    check = ModelCheck(
        model_version="traycolour-1403d3840f5b", result=result, detail="3 trays, 16 dishes"
    )
    return Event(device_id=box, seq=seq, type=MODEL_CHECK, data=check.model_dump(mode="json"))


def test_a_failed_model_self_test_is_a_supervision_alert_until_a_model_passes(
    engine: Engine,
) -> None:
    assert deliver(engine, model_check("passed")) == 0  # nothing open: nothing to clear
    assert deliver(engine, model_check("failed")) == 1
    deliver(engine, model_check("failed", seq=1))  # the box restarted, same model
    deliver(engine, model_check("failed", box="checkout-2"))
    with session_factory(engine)() as s:
        rows = {a.device: a for a in open_alerts(s)}
        assert set(rows) == {"checkout-1", "checkout-2"}
        one = rows["checkout-1"]
        assert (one.category, one.zone, one.type, one.severity, one.count) == (
            "supervision",
            "-",
            MODEL_CHECK,
            "warning",
            2,
        )
        assert one.title == (
            "Checkout box checkout-1: traycolour-1403d3840f5b failed its self-test on this "
            "CPU; every tray goes to staff"
        )
        assert one.data["detail"] == "3 trays, 16 dishes"
        # The command channel hears fire alerts only (a channel's default categories).
        assert s.scalar(select(func.count()).select_from(Notification)) == 0
    # A model without a self-test says nothing either way, but it is not the failed one.
    assert deliver(engine, model_check("not_run", seq=2)) == 1
    with session_factory(engine)() as s:
        assert [a.device for a in open_alerts(s)] == ["checkout-2"]
    # Transactions, even ones sent to staff, raise nothing.
    bill = CheckoutTransaction(
        transaction_id="0" * 32,
        site="canteen",
        mode="tray",
        items=[],
        total_fen=0,
        needs_staff=True,
        confidence=1.0,
        price_table_version="v1",
    )
    tx = Event(device_id="checkout-2", seq=1, type=TRANSACTION, data=bill.model_dump(mode="json"))
    assert actions_for(tx, event_data(tx), site="canteen", site_map=SITE_MAP) == []
