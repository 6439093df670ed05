"""A checkout box as its own process (``tianshan edge``) replaying camera frames, through
the real broker and ingest into SQL and InfluxDB: each tray billed once, and a
transaction that survives SIGKILL of the box between recognition and publish."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import JsonValue

from cloud.ingest.worker import IngestWorker
from cloud.storage import alerts
from cloud.storage.devices import get_device
from cloud.storage.tables import Alert, Device
from edge.box import Box, start_box
from edge.checkout.pipeline import CheckoutPipeline
from edge.checkout.scenes import read_truth, write_scene
from edge.config import AgentConfig
from edge.outbox import Lane
from tests.checkout_support import pair_failing_self_test
from tests.conftest import Service
from tests.helpers import influx_scalar, publish_config
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import wait_until
from wire import DeviceConfig, Event, decode_device_message
from wire.checkout import MODEL_CHECK, TRANSACTION, CheckoutTransaction, Colour

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRICES = ROOT / "docs" / "prices.example.toml"
SEEDS = [2_001_200 + i for i in range(4)]  # held out


def box_config(tmp_path: Path, broker: MosquittoServer, frames: Path, *, fps: float) -> Path:
    path = tmp_path / "checkout-1.toml"
    path.write_text(
        f"""state_dir = "{tmp_path / "box"}"
[device]
id = "checkout-1"
kind = "checkout"
site = "canteen"
[mqtt]
port = {broker.port}
reconnect_min_s = 0.2
reconnect_max_s = 1.0
[outbox]
path = "{tmp_path / "box" / "outbox.sqlite"}"
[checkout]
source = "folder:{frames}"
fps = {fps}
prices_file = "{PRICES}"
kiosk_port = 0
"""
    )
    return path


def stored_transactions(tmp_path: Path) -> list[CheckoutTransaction]:
    """Transactions waiting in the box's outbox (read beside the writer: WAL)."""
    path = tmp_path / "box" / "outbox.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        try:
            rows = db.execute(
                "SELECT topic, payload FROM outbox WHERE lane = ?", (int(Lane.TRANSACTION),)
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # the box is still creating its outbox
            raise
    out = []
    for topic, payload in rows:
        event = decode_device_message(topic, payload)
        assert isinstance(event, Event)
        assert event.type == TRANSACTION
        out.append(CheckoutTransaction.model_validate(event.data))
    return out


def listed(api: Service) -> list[dict[str, object]]:
    with api.client("viewer") as http:
        response = http.get("/api/v1/checkout/transactions", params={"site": "canteen"})
    response.raise_for_status()
    rows: list[dict[str, object]] = response.json()
    return rows


def influx_checkout_points(influx: InfluxServer, ingest: IngestWorker) -> int:
    count = influx_scalar(
        influx, ingest.settings.influx.database, 'SELECT count("total_fen") FROM checkout'
    )
    return int(count or 0)


def test_replayed_trays_are_billed_once_each_and_reach_the_cloud(
    tmp_path: Path,
    broker: MosquittoServer,
    influx: InfluxServer,
    ingest: IngestWorker,
    api: Service,
    spawn: Callable[..., Service],
) -> None:
    frames = tmp_path / "frames"
    write_scene(frames, SEEDS)
    box = spawn("box", "edge", "--config", str(box_config(tmp_path, broker, frames, fps=30)))
    wait_until(lambda: len(listed(api)) >= len(SEEDS), timeout=60, what="every tray billed")
    wait_until(lambda: "replay ended" in box.tail(50), timeout=30, what="the replay to end")
    rows = listed(api)
    assert len(rows) == len(SEEDS), "a tray billed twice, or one missed"
    truth = read_truth(frames)
    by_time = sorted(rows, key=lambda r: str(r["ts"]))
    for tray, row in zip(truth, by_time, strict=True):
        assert row["device_id"] == "checkout-1"
        assert row["mode"] == "tray"
        assert row["price_table_version"] == "2026-11-autumn"
        items = row["items"]
        assert isinstance(items, list)
        assert len(items) == len(tray.colours)
        if not row["needs_staff"]:
            assert sorted(i["colour"] for i in items) == sorted(tray.colours)
    assert influx_checkout_points(influx, ingest) == len(SEEDS)


def test_a_transaction_survives_sigkill_between_recognition_and_publish(
    tmp_path: Path,
    broker: MosquittoServer,
    influx: InfluxServer,
    ingest: IngestWorker,
    api: Service,
    spawn: Callable[..., Service],
) -> None:
    frames = tmp_path / "frames"
    write_scene(frames, SEEDS[:1], resting=40)
    config = box_config(tmp_path, broker, frames, fps=20)
    broker.stop()  # nothing can be published: the transaction waits in the outbox
    box = spawn("box", "edge", "--config", str(config))
    wait_until(lambda: bool(stored_transactions(tmp_path)), timeout=60, what="the tray recognised")
    box.kill()  # SIGKILL: recognised and stored, never published
    (stored,) = stored_transactions(tmp_path)
    assert listed(api) == []

    broker.start()
    again = spawn("box-again", "edge", "--config", str(config))
    # The restarted box replays its outbox; the camera still shows the same tray.
    wait_until(lambda: len(listed(api)) == 1, timeout=60, what="the transaction in SQL")
    wait_until(lambda: "replay ended" in again.tail(50), timeout=60, what="the replay to end")
    wait_until(lambda: not stored_transactions(tmp_path), timeout=30, what="the outbox empty")
    (row,) = listed(api)
    assert row["transaction_id"] == stored.transaction_id
    assert row["total_fen"] == stored.total_fen
    assert "already billed as " + stored.transaction_id in again.tail(200)
    assert influx_checkout_points(influx, ingest) == 1


def test_the_price_table_is_pushed_versioned_and_acknowledged(
    tmp_path: Path,
    broker: MosquittoServer,
    ingest: IngestWorker,
    edge_config: Callable[..., AgentConfig],
) -> None:
    config = edge_config(
        "checkout-2",
        device={"id": "checkout-2", "kind": "checkout", "site": "canteen"},
        checkout={"source": f"folder:{tmp_path}", "prices_file": PRICES, "kiosk_port": 0},
    )
    write_scene(tmp_path, [])  # an empty slot: the pipeline idles
    box = start_box(config)
    try:
        (pipeline,) = (p for p in box.parts if isinstance(p, CheckoutPipeline))
        assert pipeline.prices is not None
        assert pipeline.prices.version == "2026-11-autumn"

        def device() -> Device | None:
            with ingest.readers() as s:
                return get_device(s, device_id="checkout-2")

        winter: JsonValue = {"version": "2026-12-winter", "colours": {"red": 13, "white": 4}}
        publish_config(
            broker.port,
            DeviceConfig(
                device_id="checkout-2", version=5, settings={"checkout": {"prices": winter}}
            ),
        )
        wait_until(lambda: box.agent.config_version == 5, timeout=10, what="version 5 applied")
        assert pipeline.prices.version == "2026-12-winter"
        assert pipeline.prices.price_of(Colour.RED) == 1300
        wait_until(
            lambda: getattr(device(), "config_version", None) == 5, timeout=10, what="the ack"
        )

        bad: JsonValue = {"colours": {"red": -1}}
        publish_config(
            broker.port,
            DeviceConfig(device_id="checkout-2", version=6, settings={"checkout": {"prices": bad}}),
        )
        wait_until(
            lambda: getattr(device(), "config_rejected_version", None) == 6,
            timeout=10,
            what="the refusal",
        )
        reason = getattr(device(), "config_rejected_reason", "") or ""
        assert "negative" in reason
        assert box.agent.config_version == 5
        assert pipeline.prices.version == "2026-12-winter"
    finally:
        box.stop()


def test_a_model_failing_its_self_test_raises_an_alert_that_a_passing_one_clears(
    tmp_path: Path,
    ingest: IngestWorker,
    edge_config: Callable[..., AgentConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    write_scene(frames, [])  # an empty slot: the pipeline idles
    (tmp_path / "model").mkdir()
    failing = pair_failing_self_test(tmp_path / "model")

    def start(model: Path | None) -> Box:
        config = edge_config(
            "checkout-3",
            device={"id": "checkout-3", "kind": "checkout", "site": "canteen"},
            checkout={"source": f"folder:{frames}", "model_path": model, "kiosk_port": 0},
        )
        return start_box(config)

    def open_checks() -> list[Alert]:
        with ingest.readers() as s:
            return [a for a in alerts.list_alerts(s) if a.type == MODEL_CHECK]

    box = start(failing)
    try:
        wait_until(lambda: len(open_checks()) == 1, timeout=15, what="the alert")
    finally:
        box.stop()
    assert "failed its self-test on this CPU" in caplog.text
    (alert,) = open_checks()
    assert (alert.category, alert.device, alert.site) == ("supervision", "checkout-3", "canteen")
    assert alert.title.startswith("Checkout box checkout-3: traycolour-")
    assert "heat map within" in alert.data["detail"]

    box = start(None)  # the committed pair, which passes here
    try:
        wait_until(lambda: open_checks() == [], timeout=15, what="the alert cleared")
    finally:
        box.stop()
