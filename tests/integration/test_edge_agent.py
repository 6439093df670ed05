"""The edge agent against the real broker: priority on the wire, pushed config, last will, TLS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.ingest.worker import IngestWorker
from cloud.storage.devices import get_device
from edge.agent import EdgeAgent
from edge.config import AgentConfig
from edge.outbox import Lane
from tests.certs import make_pki
from tests.conftest import Service
from tests.helpers import publish_config
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import free_port, wait_until
from wire import (
    DeviceConfig,
    Event,
    Reading,
    Severity,
    Telemetry,
    decode_as,
    now_us,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def agent(edge_config: Callable[..., AgentConfig]) -> Iterator[Callable[..., EdgeAgent]]:
    started: list[EdgeAgent] = []

    def start(**overrides: object) -> EdgeAgent:
        a = EdgeAgent(edge_config(**overrides))
        a.start()
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


def persistent_subscriber(port: int, topic: str, into: list[mqtt.MQTTMessage]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher", protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.on_message = lambda c, u, m: into.append(m)
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    client.subscribe(topic, qos=1)
    return client


def test_an_alarm_overtakes_a_telemetry_backlog_on_the_wire(
    broker: MosquittoServer,
    agent: Callable[..., EdgeAgent],
) -> None:
    got: list[mqtt.MQTTMessage] = []
    watcher = persistent_subscriber(broker.port, "tianshan/v1/dev/box-1/#", got)
    time.sleep(0.2)  # let the SUBACK land before the broker goes away
    watcher.disconnect()
    watcher.loop_stop()
    broker.stop()
    box = agent()
    t0 = now_us()
    box.add_readings(Reading(ts=t0 + i, field="t", value=i) for i in range(5000))
    wait_until(lambda: box.outbox.counters().depth["telemetry"] >= 50, timeout=10, what="backlog")
    box.send_event("fire.alarm", severity=Severity.CRITICAL, data={"zone": "Z2"})
    broker.start()
    watcher = persistent_subscriber(broker.port, "tianshan/v1/dev/box-1/#", got)
    try:
        wait_until(
            lambda: sum(m.topic.endswith("/telemetry") for m in got) >= 50,
            timeout=20,
            what="the backlog",
        )
        streams = [m for m in got if m.topic.endswith(("/telemetry", "/event"))]
        assert streams[0].topic.endswith("/event")
        assert decode_as(Event, bytes(streams[0].payload)).type == "fire.alarm"
        readings = [r for m in streams[1:] for r in decode_as(Telemetry, bytes(m.payload)).readings]
        assert [r.ts for r in readings] == [t0 + i for i in range(5000)]  # in order, none lost
    finally:
        watcher.disconnect()
        watcher.loop_stop()


def test_pushed_config_is_applied_acknowledged_or_refused_with_a_reason(
    broker: MosquittoServer,
    ingest: IngestWorker,
    agent: Callable[..., EdgeAgent],
    edge_config: Callable[..., AgentConfig],
) -> None:
    box = agent()
    publish_config(
        broker.port,
        DeviceConfig(
            device_id="box-1",
            version=1,
            settings={
                "telemetry": {"max_readings": 7, "max_age_s": 0.05},
                "heartbeat": {"interval_s": 1},
            },
        ),
    )
    wait_until(lambda: box.config_version == 1, timeout=10, what="config 1 applied")
    assert box.batcher.max_readings == 7

    def device() -> object:
        with ingest.readers() as s:
            return get_device(s, device_id="box-1")

    wait_until(
        lambda: getattr(device(), "config_version", None) == 1, timeout=10, what="the ack in SQL"
    )

    publish_config(
        broker.port,
        DeviceConfig(device_id="box-1", version=2, settings={"telemetry": {"max_readings": 0}}),
    )
    wait_until(
        lambda: getattr(device(), "config_rejected_version", None) == 2,
        timeout=10,
        what="the refusal in SQL",
    )
    assert "telemetry.max_readings" in (getattr(device(), "config_rejected_reason", "") or "")
    assert box.config_version == 1
    assert box.batcher.max_readings == 7

    # After a restart the box still runs version 1 (kept on disk), not the refused one.
    box.stop()
    again = EdgeAgent(edge_config())
    try:
        assert again.config_version == 1
        assert again.batcher.max_readings == 7
        stored = json.loads((Path(edge_config().state_dir) / "applied-config.json").read_text())
        assert stored["version"] == 1
        mode = (Path(edge_config().state_dir) / "applied-config.json").stat().st_mode & 0o777
        assert mode == 0o600
    finally:
        again.outbox.close()


def test_sigkilled_box_is_reported_offline_by_its_last_will(
    tmp_path: Path,
    broker: MosquittoServer,
    ingest: IngestWorker,
    spawn: Callable[..., Service],
) -> None:
    config = tmp_path / "edge.toml"
    config.write_text(
        f'state_dir = "{tmp_path}/will"\n[device]\nid = "box-will"\nkind = "fire"\n'
        f'[mqtt]\nport = {broker.port}\n[outbox]\npath = "{tmp_path}/will/outbox.sqlite"\n'
        f"[heartbeat]\ninterval_s = 1\n"
    )
    box = spawn("edge", "edge", "--config", str(config))

    def device() -> object:
        with ingest.readers() as s:
            return get_device(s, device_id="box-will")

    wait_until(lambda: getattr(device(), "online", None) is True, timeout=20, what="online")
    wait_until(
        lambda: getattr(device(), "software", None) is not None, timeout=20, what="a heartbeat"
    )
    assert getattr(device(), "kind", None) == "fire"
    box.kill()
    wait_until(
        lambda: getattr(device(), "online", None) is False,
        timeout=20,
        what="the will to mark it offline",
    )


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[MosquittoServer, int, Path]]:
    pki = make_pki(tmp_path / "pki")
    tls_port = free_port()
    server = MosquittoServer(
        tmp_path / "mosquitto-tls",
        extra_config=(
            f"listener {tls_port} 127.0.0.1\nprotocol mqtt\ncafile {pki.ca_cert}\n"
            f"certfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
        ),
    ).start()
    yield server, tls_port, pki.ca_cert
    server.stop()


# paho leaves the socket of a failed TLS handshake for the garbage collector; that is
# paho's leak (a ResourceWarning), not ours, and only this test provokes it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_tls_with_the_project_ca_connects_and_a_wrong_ca_does_not(
    tmp_path: Path,
    tls_broker: tuple[MosquittoServer, int, Path],
    edge_config: Callable[..., AgentConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, tls_port, ca = tls_broker
    got: list[mqtt.MQTTMessage] = []
    watcher = persistent_subscriber(server.port, "tianshan/v1/dev/#", got)
    wait_until(watcher.is_connected, timeout=5, what="the watcher")
    time.sleep(0.2)  # let the SUBACK land
    good = EdgeAgent(edge_config("box-tls", mqtt={"port": tls_port, "tls": {"ca_file": ca}}))
    good.start()
    try:
        assert good.transport.wait_connected(10)
        event = good.send_event("tls.check", lane=Lane.TRANSACTION)
        assert good.drain(10), "not delivered over TLS"
        events = [m for m in got if m.topic.endswith("/event")]
        assert len(events) == 1
        assert decode_as(Event, bytes(events[0].payload)).msg_id == event.msg_id
    finally:
        good.stop()
        watcher.disconnect()
        watcher.loop_stop()
    other = make_pki(tmp_path / "other-pki", ca_name="Some Other CA")
    bad = EdgeAgent(
        edge_config("box-bad", mqtt={"port": tls_port, "tls": {"ca_file": other.ca_cert}})
    )
    bad.start()
    try:
        assert not bad.transport.wait_connected(3)
    finally:
        bad.stop()
    assert "certificate verify failed" in caplog.text  # the installer is told why
