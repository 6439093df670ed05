"""The SQL layer, the same tests on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from cloud.config import CloudSettings
from cloud.ingest.worker import IngestWorker
from cloud.storage import checkout, devices, events, rejects
from cloud.storage.sql import make_engine, session_factory
from cloud.storage.tables import Device, EventRecord, RejectedMessage
from tests.helpers import look
from tianshan.servers.postgres import PostgresServer
from tianshan.servers.process import wait_until
from wire import ConfigAck, Event, OutboxStats, Severity, State, Status, encode, new_message_id
from wire.checkout import (
    CORRECTION,
    TRANSACTION,
    CheckoutCorrection,
    CheckoutTransaction,
    Colour,
    LineItem,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/t.sqlite"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def utc(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def test_activity_creates_devices_and_only_moves_forward(engine: Engine) -> None:
    seen1 = devices.Seen(T0, T0, 5)
    seen1.add(T0 + timedelta(seconds=9), 3)
    with session_factory(engine).begin() as s:
        devices.record_activity(s, seen={"box-1": seen1, "box-2": devices.Seen(T0, T0)})
    with session_factory(engine).begin() as s:  # an older, late message changes nothing
        late = T0 - timedelta(1)
        devices.record_activity(s, seen={"box-1": devices.Seen(late, late, 1)})
    with session_factory(engine)() as s:
        box1 = devices.get_device(s, device_id="box-1")
        assert box1 is not None
        assert utc(box1.last_seen) == T0 + timedelta(seconds=9)
        assert box1.last_seq == 5
        assert utc(box1.first_seen) == T0
        assert [d.device_id for d in devices.list_devices(s)] == ["box-1", "box-2"]


def test_a_late_will_of_an_old_session_does_not_mark_a_new_one_offline(engine: Engine) -> None:
    old, new = new_message_id(), new_message_id()
    with session_factory(engine).begin() as s:
        devices.record_activity(s, seen={"box-1": devices.Seen(T0, T0)})
        devices.record_status(
            s, status=Status(device_id="box-1", state="online", session=old, since=1), at=T0
        )
        devices.record_status(
            s, status=Status(device_id="box-1", state="online", session=new, since=2), at=T0
        )
        devices.record_status(
            s, status=Status(device_id="box-1", state="offline", session=old, since=1), at=T0
        )
    with session_factory(engine)() as s:
        assert devices.get_device(s, device_id="box-1").online is True  # type: ignore[union-attr]
    with session_factory(engine).begin() as s:
        devices.record_status(
            s, status=Status(device_id="box-1", state="offline", session=new, since=2), at=T0
        )
    with session_factory(engine)() as s:
        assert devices.get_device(s, device_id="box-1").online is False  # type: ignore[union-attr]


def test_heartbeats_keep_the_newest_and_config_acks_move_forward(engine: Engine) -> None:
    def state(ts: int, software: str) -> State:
        return State(
            device_id="box-1",
            seq=ts,
            ts=ts,
            uptime_s=ts,
            heartbeat_interval_s=30,
            software=software,
            kind="fire",
            outbox=OutboxStats(depth={"alarm": 2}),
        )

    with session_factory(engine).begin() as s:
        devices.record_activity(s, seen={"box-1": devices.Seen(T0, T0)})
        devices.record_state(s, state=state(200, "v2"))
        devices.record_state(s, state=state(100, "v1"))  # replayed from an outbox: older
        devices.record_config_ack(
            s, ack=ConfigAck(device_id="box-1", seq=1, version=3, result="applied")
        )
        devices.record_config_ack(
            s, ack=ConfigAck(device_id="box-1", seq=2, version=2, result="applied")
        )
        devices.record_config_ack(
            s,
            ack=ConfigAck(
                device_id="box-1", seq=3, version=4, result="rejected", reason="bad prices"
            ),
        )
    with session_factory(engine)() as s:
        box = devices.get_device(s, device_id="box-1")
        assert box is not None
        assert (box.software, box.kind, box.outbox_depth) == ("v2", "fire", 2)
        assert box.config_version == 3
        assert (box.config_rejected_version, box.config_rejected_reason) == (4, "bad prices")


def test_events_are_stored_once(engine: Engine) -> None:
    event = Event(
        device_id="box-1",
        seq=1,
        type="fire.alarm",
        severity=Severity.CRITICAL,
        data={"zone": "Z1", "levels": [1, 2]},
    )
    for _ in range(3):  # redelivered
        with session_factory(engine).begin() as s:
            events.insert_events(s, events=[event], received_at=T0)
    with session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(EventRecord)) == 1
        (row,) = events.list_events(s, device_id="box-1", type_prefix="fire.")
        assert row.data == {"zone": "Z1", "levels": [1, 2]}
        assert row.severity == "critical"
        assert events.list_events(s, type_prefix="parking.") == []


def test_rejections_are_kept_and_counted_per_delivery(engine: Engine) -> None:
    bad = rejects.Rejection(
        "tianshan/v1/dev/box-1/telemetry", b"\x00\xffjunk", "malformed_json", "x"
    )
    other = rejects.Rejection("tianshan/v1/dev/box-1/event", b"{}", "schema", "y", "box-1")
    with session_factory(engine).begin() as s:
        rejects.record_rejections(s, rejections=[bad, bad, other], at=T0, keep_bytes=3)
    with session_factory(engine).begin() as s:
        rejects.record_rejections(s, rejections=[bad], at=T0 + timedelta(1), keep_bytes=3)
    with session_factory(engine)() as s:
        assert rejects.count_by_reason(s) == {"malformed_json": 3, "schema": 1}
        assert s.scalar(select(func.count()).select_from(RejectedMessage)) == 2
        (row,) = rejects.list_rejections(s, reason="malformed_json")
        assert row.payload == b"\x00\xffj"
        assert row.payload_size == 6
        assert row.times_seen == 3
        assert utc(row.last_seen) == T0 + timedelta(1)


def test_ingest_runs_on_postgresql(postgres: PostgresServer, cloud_settings: CloudSettings) -> None:
    """The whole ingest path with a PostgreSQL URL: events land in PostgreSQL once."""
    url = postgres.create_database(f"ingest_{uuid.uuid4().hex[:12]}")
    settings = cloud_settings.model_copy(
        update={"sql": cloud_settings.sql.model_copy(update={"url": url})}
    )
    worker = IngestWorker(settings)
    worker.start()
    try:
        assert worker.wait_connected(10)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect("127.0.0.1", settings.broker.port)
        client.loop_start()
        sent = [Event(device_id="box-pg", seq=i, type="door.open") for i in range(50)]
        for event in sent + sent[:10]:  # ten redelivered
            client.publish("tianshan/v1/dev/box-pg/event", encode(event), qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
        wait_until(
            lambda: (
                look(
                    worker.readers,
                    lambda s: s.scalar(select(func.count()).select_from(EventRecord)),
                )
                == 50
            ),
            timeout=20,
            what="50 events in PostgreSQL",
        )
        stored = look(worker.readers, lambda s: {r.msg_id for r in s.scalars(select(EventRecord))})
        assert stored == {e.msg_id for e in sent}
        device = look(worker.readers, lambda s: s.get(Device, "box-pg"))
        assert device is not None
        assert device.last_seq == 49
        assert worker.engine.dialect.name == "postgresql"
    finally:
        worker.stop()


def transaction(tid: str, *colours_prices: tuple[Colour, int | None]) -> CheckoutTransaction:
    items = [LineItem(colour=c, price_fen=p, confidence=0.9) for c, p in colours_prices]
    return CheckoutTransaction(
        transaction_id=tid,
        site="canteen",
        mode="tray",
        items=items,
        total_fen=sum(p or 0 for _, p in colours_prices),
        needs_staff=any(p is None for _, p in colours_prices),
        confidence=0.9,
        price_table_version="p1",
    )


def test_checkout_transactions_once_and_corrections_make_the_bill(engine: Engine) -> None:
    tx1 = transaction("1" * 32, (Colour.RED, 1200), (Colour.WHITE, 300))
    tx2 = transaction("2" * 32, (Colour.BLUE, 800), (Colour.UNKNOWN, None))
    e1 = Event(
        device_id="box-1",
        seq=1,
        ts=1_795_000_000_000_000,
        type=TRANSACTION,
        data=tx1.model_dump(mode="json"),
    )
    e2 = Event(
        device_id="box-1",
        seq=2,
        ts=1_795_000_060_000_000,
        type=TRANSACTION,
        data=tx2.model_dump(mode="json"),
    )
    fix = CheckoutCorrection(
        transaction_id="2" * 32,
        total_fen=1400,
        staff="wang",
        price_table_version="p1",
        items=[
            LineItem(colour=Colour.BLUE, price_fen=800, confidence=0.9),
            LineItem(colour=Colour.GREEN, price_fen=600, confidence=1.0),
        ],
    )
    ef = Event(
        device_id="box-1",
        seq=3,
        ts=1_795_000_090_000_000,
        type=CORRECTION,
        data=fix.model_dump(mode="json"),
    )
    for _ in range(2):  # redelivered
        with session_factory(engine).begin() as s:
            checkout.record_transactions(s, transactions=[(e1, tx1), (e2, tx2)], received_at=T0)
            checkout.record_corrections(s, corrections=[(ef, fix)])
    with session_factory(engine)() as s:
        bills = checkout.list_bills(s, site="canteen")
        assert [b.row.transaction_id for b in bills] == ["2" * 32, "1" * 32]  # newest first
        assert bills[0].total_fen == 1400
        assert [i["colour"] for i in bills[0].items] == ["blue", "green"]
        assert bills[0].row.total_fen == 800  # the box's own record is kept
        assert bills[1].total_fen == 1500
        assert bills[1].correction is None
        summary = checkout.summarise(bills, hour_of=lambda ts: "h")
        assert summary.trays == 2
        assert summary.revenue_fen == 2900
        assert summary.sent_to_staff == 1
        assert summary.corrected == 1
        assert summary.revenue_per_colour_fen == {
            "red": 1200,
            "white": 300,
            "blue": 800,
            "green": 600,
        }
