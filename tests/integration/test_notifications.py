"""Notifications to real HTTP endpoints: the WeChat Work robot format and generic JSON,
retried with backoff after a refusal, every attempt logged; escalation when nobody
acknowledges; a work order for the property manager."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import make_url

from cloud.config import CloudSettings
from cloud.ingest.worker import IngestWorker
from tests.conftest import Service, start_api
from tests.helpers import SITE_MAP
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import wait_until
from wire import Event, Severity, encode
from wire import fire as f

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Sink:
    """Webhook endpoints: records every POST; /pm refuses its first delivery."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.refuse_first = {"/pm"}
        # Called with the path before each answer goes back (the answer waits for it).
        self.before_answer: Callable[[str], None] | None = None
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sink.received.append((self.path, body))
                if sink.before_answer is not None:
                    sink.before_answer(self.path)
                if self.path in sink.refuse_first:
                    sink.refuse_first.discard(self.path)
                    self.send_response(503)
                    self.end_headers()
                    return
                answer = b'{"errcode":0,"errmsg":"ok"}' if self.path == "/wechat" else b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def to(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.received if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


@pytest.fixture
def notifying_api(
    tmp_path: Path,
    sink: Sink,
    cloud_settings: CloudSettings,
    spawn: Callable[..., Service],
    tokens: dict[str, str],
) -> tuple[Service, CloudSettings]:
    site_map = tmp_path / "sitemap.toml"
    base = SITE_MAP.read_text().replace("http://127.0.0.1:9/property-manager", f"{sink.url}/pm")
    site_map.write_text(
        base
        + f'''
[[channels]]
id = "command"
kind = "wechat_work"
url = "{sink.url}/wechat"
categories = ["fire"]
events = ["opened", "escalated", "confirmed"]
'''
    )
    settings = cloud_settings.model_copy(
        update={
            "site_map": site_map,
            "alerts": cloud_settings.alerts.model_copy(update={"escalate_after_s": 2.0}),
        }
    )
    return start_api(spawn, settings, tokens), settings


@pytest.fixture
def notifying_ingest(notifying_api: tuple[Service, CloudSettings]) -> Iterator[IngestWorker]:
    """An ingest worker in this process, on the notifying API's settings, connected."""
    worker = IngestWorker(notifying_api[1])
    worker.start()
    assert worker.wait_connected(10)
    yield worker
    worker.stop()


SMOKE_ALARM = f.FireAlarm(
    zone="L800-1-3F", detector="L800-1-3F-S1", cause=f.Cause.OBSCURATION, value=4.0
)


def publish(
    broker: MosquittoServer, type_: str, data: f.FireAlarm | f.FireTrouble, seq: int
) -> None:
    event = Event(
        device_id="fire-lane800",
        seq=seq,
        type=type_,
        severity=Severity.CRITICAL,
        data=data.model_dump(mode="json"),
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish("tianshan/v1/dev/fire-lane800/event", encode(event), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


@pytest.mark.usefixtures("notifying_ingest")
def test_alarm_escalation_and_work_order_notifications(
    broker: MosquittoServer,
    sink: Sink,
    notifying_api: tuple[Service, CloudSettings],
) -> None:
    api, _ = notifying_api
    publish(broker, f.ALARM, SMOKE_ALARM, 1)
    # The command group robot hears the new alarm, in WeChat Work's markdown format…
    wait_until(lambda: len(sink.to("/wechat")) >= 1, timeout=15, what="the alarm message")
    first = sink.to("/wechat")[0]
    assert first["msgtype"] == "markdown"
    assert "新告警 New alert" in first["markdown"]["content"]
    assert "Lane 800 Tianshan Rd, No. 1" in first["markdown"]["content"]
    # …and, nobody acknowledging within 2 s, about its escalation.
    wait_until(
        lambda: any("告警升级" in m["markdown"]["content"] for m in sink.to("/wechat")),
        timeout=15,
        what="the escalation message",
    )

    publish(
        broker,
        f.TROUBLE,
        f.FireTrouble(
            zone="L800-1-3F", detector="L800-1-3F-S2", trouble=f.TroubleKind.DIRTY_CHAMBER
        ),
        2,
    )
    # The property manager's endpoint refuses the first delivery; the retry gets through.
    wait_until(lambda: len(sink.to("/pm")) >= 2, timeout=20, what="the work order, retried")
    order = sink.to("/pm")[-1]
    assert order["kind"] == "work_order"
    assert order["alert"]["type"] == "fire.trouble.dirty_chamber"

    with api.client("operator") as operator:
        log = operator.get("/api/v1/notifications").json()
    work_order = next(n for n in log if n["kind"] == "work_order")
    assert work_order["state"] == "sent"
    assert work_order["attempts"] == 2  # refused once, then delivered
    assert {n["kind"] for n in log if n["channel"] == "command"} >= {"opened", "escalated"}
    with api.client("fire_team") as team:
        (escalated,) = [a for a in team.get("/api/v1/alerts").json() if a["type"] == "fire.alarm"]
    assert escalated["escalated_at"] is not None


@pytest.mark.usefixtures("notifying_ingest")
def test_the_api_answers_while_a_delivery_waits_to_log_its_attempt(
    broker: MosquittoServer,
    sink: Sink,
    notifying_api: tuple[Service, CloudSettings],
) -> None:
    """Logging a delivery takes SQL's write lock, which on SQLite the ingest may hold for a
    while; the wait must not stall the API (its event loop once did the logging itself)."""
    api, settings = notifying_api
    database = make_url(settings.sql.url).database
    assert database is not None
    held = threading.Event()
    release = threading.Event()

    def hold_the_write_lock() -> None:
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            release.wait(30)
            conn.rollback()

    holder: threading.Thread | None = None

    def lock_then_answer(path: str) -> None:
        nonlocal holder
        if path == "/wechat" and holder is None:  # the alarm's first message
            holder = threading.Thread(target=hold_the_write_lock, daemon=True)
            holder.start()
            assert held.wait(30)

    sink.before_answer = lock_then_answer
    try:
        publish(broker, f.ALARM, SMOKE_ALARM, 1)
        assert held.wait(20), "the alarm's message did not reach the command group"
        # The cloud now has its answer and waits for the lock to log the attempt; for 5 s
        # the API must go on answering (before the fix it answered nothing until the lock
        # came back).
        with httpx.Client(base_url=api.base_url, timeout=2.0) as client:
            until = time.monotonic() + 5.0
            while time.monotonic() < until:
                try:
                    assert client.get("/healthz").status_code == 200
                except httpx.TimeoutException:
                    pytest.fail("the API stopped answering while a delivery waited for SQL")
                time.sleep(0.1)
    finally:
        release.set()
    # With the lock back, the attempt is logged: the message went out once.
    with api.client("operator") as operator:

        def opened_sent() -> bool:
            log = operator.get("/api/v1/notifications").json()
            return any(
                n["channel"] == "command" and n["kind"] == "opened" and n["state"] == "sent"
                for n in log
            )

        wait_until(opened_sent, timeout=30, what="the delivery logged as sent")
    assert (
        len([m for m in sink.to("/wechat") if "新告警 New alert" in m["markdown"]["content"]]) == 1
    )
