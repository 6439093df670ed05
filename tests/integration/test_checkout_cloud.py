"""Checkout records through the real chain: events → Mosquitto → ingest → SQL → API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.ingest.worker import IngestWorker
from tests.conftest import Service
from tests.helpers import influx_scalar
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import wait_until
from wire import Event, encode
from wire.checkout import (
    CORRECTION,
    TRANSACTION,
    CheckoutCorrection,
    CheckoutTransaction,
    Colour,
    LineItem,
)

pytestmark = pytest.mark.integration


def tray(tid: str, *items: tuple[Colour, int | None]) -> CheckoutTransaction:
    lines = [LineItem(colour=c, price_fen=p, confidence=0.9) for c, p in items]
    return CheckoutTransaction(
        transaction_id=tid,
        site="canteen",
        mode="tray",
        items=lines,
        total_fen=sum(p or 0 for _, p in items),
        needs_staff=any(p is None for _, p in items),
        confidence=0.9,
        price_table_version="p1",
    )


def test_transactions_once_corrections_applied_and_the_day_summarised(
    broker: MosquittoServer,
    influx: InfluxServer,
    ingest: IngestWorker,
    api: Service,
) -> None:
    noon = datetime.now(UTC).replace(minute=5, second=0, microsecond=0) - timedelta(hours=2)
    t_us = int(noon.timestamp() * 1e6)
    trays = [
        tray("1" * 32, (Colour.RED, 1200), (Colour.WHITE, 300)),
        tray("2" * 32, (Colour.BLUE, 800)),
        tray("3" * 32, (Colour.GREEN, 600), (Colour.UNKNOWN, None)),
    ]
    events = [
        Event(
            device_id="checkout-1",
            seq=i,
            ts=t_us + i * 60_000_000,
            type=TRANSACTION,
            data=t.model_dump(mode="json"),
        )
        for i, t in enumerate(trays)
    ]
    fix = CheckoutCorrection(
        transaction_id="3" * 32,
        total_fen=1100,
        staff="li",
        price_table_version="p1",
        items=[
            LineItem(colour=Colour.GREEN, price_fen=600, confidence=1),
            LineItem(colour=Colour.PURPLE, price_fen=500, confidence=1),
        ],
    )
    events.append(
        Event(
            device_id="checkout-1",
            seq=9,
            ts=t_us + 300_000_000,
            type=CORRECTION,
            data=fix.model_dump(mode="json"),
        )
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    for event in [*events, events[0], events[1]]:  # two redelivered
        client.publish("tianshan/v1/dev/checkout-1/event", encode(event), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()

    with api.client("viewer") as http:
        wait_until(
            lambda: (
                len(http.get("/api/v1/checkout/transactions").json()) == 3
                and http.get("/api/v1/checkout/summary").json()["corrected"] == 1
            ),
            timeout=20,
            what="three transactions and the correction",
        )
        txs = {t["transaction_id"]: t for t in http.get("/api/v1/checkout/transactions").json()}
        assert txs["1" * 32]["total"] == "15.00"
        assert [i["price"] for i in txs["1" * 32]["items"]] == ["12.00", "3.00"]
        fixed = txs["3" * 32]
        assert fixed["corrected"] is True
        assert fixed["total"] == "11.00"
        assert fixed["original_total"] == "6.00"
        assert fixed["needs_staff"] is True
        summary = http.get("/api/v1/checkout/summary", params={"site": "canteen"}).json()
        assert summary["trays"] == 3
        assert summary["revenue"] == "34.00"
        assert summary["sent_to_staff"] == 1
        assert summary["staff_share"] == pytest.approx(1 / 3, abs=1e-4)
        local_hour = noon.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%H:00")
        assert summary["meals_per_hour"] == {local_hour: 3}
        tiers = {t["tier"]: (t["items"], t["revenue"]) for t in summary["revenue_per_tier"]}
        assert tiers == {
            "red": (1, "12.00"),
            "white": (1, "3.00"),
            "blue": (1, "8.00"),
            "green": (1, "6.00"),
            "purple": (1, "5.00"),
        }
        assert http.get("/api/v1/checkout/transactions", params={"site": "elsewhere"}).json() == []
        page = http.get("/checkout")
        assert page.status_code == 200
        assert "Meals per hour" in page.text
    database = ingest.settings.influx.database
    assert influx_scalar(influx, database, 'SELECT count("total_fen") FROM checkout') == 3
    assert influx_scalar(influx, database, 'SELECT sum("total_fen") FROM checkout') == 2900
