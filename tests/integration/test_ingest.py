"""The ingest worker against the real broker and InfluxDB: sharing, hostile input, metrics."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cloud.config import CloudSettings
from cloud.ingest.worker import IngestWorker
from cloud.storage.rejects import Rejection
from cloud.storage.tables import EventRecord, RejectedMessage
from tests.conftest import Service
from tests.helpers import influx_scalar, look, settings_env
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import wait_until
from wire import Event, Reading, Telemetry, encode

pytestmark = pytest.mark.integration


@pytest.fixture
def publisher(broker: MosquittoServer) -> Iterator[mqtt.Client]:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="test-publisher", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def publish(client: mqtt.Client, topic: str, payload: bytes) -> None:
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)
    assert info.is_published()


def telemetry(device: str, seq: int, value: float) -> bytes:
    return encode(
        Telemetry(
            device_id=device,
            seq=seq,
            readings=[Reading(ts=1_700_000_000_000_000 + seq, field="v", value=value)],
        )
    )


def rejected(worker: IngestWorker) -> float:
    return (
        worker.metrics.registry.get_sample_value(
            "tianshan_ingest_messages_total", {"outcome": "rejected"}
        )
        or 0.0
    )


def _settled(read: Callable[[], float], quiet_s: float, timeout: float) -> float:
    """The value of `read` once it has not changed for `quiet_s` (a worker still
    taking its share would otherwise be caught half-way)."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise AssertionError(f"value still changing after {timeout} s (last {last})")


def accepted(worker: IngestWorker) -> float:
    return (
        worker.metrics.registry.get_sample_value(
            "tianshan_ingest_messages_total", {"outcome": "accepted"}
        )
        or 0.0
    )


def test_two_workers_share_the_load_and_write_each_message_once(
    cloud_settings: CloudSettings,
    influx: InfluxServer,
    publisher: mqtt.Client,
) -> None:
    workers = []
    for name in ("a", "b"):
        settings = cloud_settings.model_copy(
            update={"ingest": cloud_settings.ingest.model_copy(update={"worker_name": name})}
        )
        worker = IngestWorker(settings)
        worker.start()
        assert worker.wait_connected(10)
        workers.append(worker)
    try:
        # Both must be subscribed before the stream starts, or one takes it all.
        wait_until(lambda: all(w.client.is_connected() for w in workers), timeout=10, what="both")
        total = 3000
        for seq in range(total):
            publisher.publish(
                "tianshan/v1/dev/box-1/telemetry", telemetry("box-1", seq, seq), qos=1
            )
        database = cloud_settings.influx.database
        wait_until(lambda: sum(accepted(w) for w in workers) >= total, timeout=60, what="all")
        shares = [accepted(w) for w in workers]
        assert sum(shares) == total  # each message went to exactly one worker
        assert min(shares) >= total * 0.2, shares  # and each took a real share
        assert influx_scalar(influx, database, 'SELECT count("v") FROM telemetry') == total
        assert influx_scalar(influx, database, 'SELECT sum("v") FROM telemetry') == sum(
            range(total)
        )
    finally:
        for worker in workers:
            worker.stop()


HOSTILE: list[tuple[str, bytes, str]] = [
    ("tianshan/v1/dev/box-1/telemetry", b"{not json", "malformed_json"),
    ("tianshan/v1/dev/box-1/telemetry", b"\xff\xfe\x00garbage", "malformed_json"),
    ("tianshan/v1/dev/box-1/telemetry", b'{"v": 9}', "unsupported_version"),
    ("tianshan/v1/dev/box-1/event", b'{"v":1,"type":"x"}', "schema"),
    ("tianshan/v1/dev/box-1/telemetry", b"[" * 300_000, "oversize"),
    ("tianshan/v1/dev/box-1/telemetry", telemetry("box-2", 1, 1.0), "device_mismatch"),
    (
        "tianshan/v1/dev/box-1/telemetry",
        json.dumps(
            {
                "v": 1,
                "msg_id": "a" * 32,
                "device_id": "box-1",
                "seq": 1,
                "ts": 1,
                "readings": [{"ts": 1, "field": "v", "value": 1, "tags": {"k": 'x" ,y=1 2'}}],
            }
        ).encode(),
        "schema",
    ),
]


def test_bad_messages_are_rejected_counted_and_kept(
    broker: MosquittoServer,
    influx: InfluxServer,
    ingest: IngestWorker,
    api: Service,
    publisher: mqtt.Client,
) -> None:
    rng = random.Random(7)
    sent_good = 0
    for topic, payload, _ in HOSTILE:
        publish(publisher, topic, payload)
        publish(publisher, "tianshan/v1/dev/box-1/telemetry", telemetry("box-1", sent_good, 1.0))
        sent_good += 1
    for _ in range(20):  # random bytes on every channel
        channel = rng.choice(["telemetry", "event", "state", "status", "config/ack"])
        publish(publisher, f"tianshan/v1/dev/box-1/{channel}", rng.randbytes(rng.randint(0, 400)))
    publish(publisher, "tianshan/v1/dev/box-1/telemetry", telemetry("box-1", sent_good, 1.0))
    sent_good += 1

    database = ingest.settings.influx.database
    wait_until(
        lambda: influx_scalar(influx, database, 'SELECT count("v") FROM telemetry') == sent_good,
        timeout=30,
        what="the good messages",
    )
    expected_rejects = len(HOSTILE) + 20
    total_seen = select(func.sum(RejectedMessage.times_seen))
    wait_until(
        lambda: (look(ingest.readers, lambda s: s.scalar(total_seen)) or 0) >= expected_rejects,
        timeout=30,
        what="every rejection recorded",
    )
    rows = look(ingest.readers, lambda s: s.scalars(select(RejectedMessage)).all())
    by_payload = {row.payload: row for row in rows}
    for topic, payload, reason in HOSTILE:
        kept = payload[: ingest.settings.ingest.keep_payload_bytes]
        assert by_payload[kept].reason == reason, (payload[:40], by_payload[kept].detail)
        assert by_payload[kept].topic == topic
        assert by_payload[kept].payload_size == len(payload)

    with api.client("viewer") as viewer:
        metrics = viewer.get("/metrics").text
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("tianshan_rejected_messages_total{")
    )
    assert total == expected_rejects
    assert 'tianshan_rejected_messages_total{reason="oversize"} 1.0' in metrics
    with api.client("operator") as operator:
        listed = operator.get("/api/v1/rejected", params={"reason": "device_mismatch"}).json()
    assert len(listed) == 1
    assert listed[0]["device_id"] == "box-1"
    assert listed[0]["payload_text"]
    assert rejected(ingest) == expected_rejects


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    channel=st.sampled_from(["telemetry", "event", "state", "status", "config/ack"]),
    payload=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
            lambda c: (
                st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=12), c, max_size=5)
            ),
            max_leaves=25,
        ).map(lambda v: json.dumps(v).encode()),
    ),
)
def test_hostile_payloads_never_stop_the_worker(
    ingest: IngestWorker,
    publisher: mqtt.Client,
    channel: str,
    payload: bytes,
) -> None:
    """Each hostile message is followed by a good event; the worker must store that event
    (it is still alive and in order) and must have said why it refused the hostile one."""
    before_rejected, before_accepted = rejected(ingest), accepted(ingest)
    topic = f"tianshan/v1/dev/box-9/{channel}"
    publish(publisher, topic, payload)
    canary = Event(device_id="box-9", seq=0, type="canary")
    publish(publisher, "tianshan/v1/dev/box-9/event", encode(canary))
    wait_until(
        lambda: look(ingest.readers, lambda s: s.get(EventRecord, canary.msg_id)) is not None,
        timeout=15,
        what="the canary",
    )
    wait_until(
        lambda: rejected(ingest) + accepted(ingest) == before_rejected + before_accepted + 2,
        timeout=5,
        what="both messages counted",
    )
    if rejected(ingest) == before_rejected + 1:
        digest = Rejection(topic, payload, "", "").digest
        row = look(
            ingest.readers,
            lambda s: s.scalar(select(RejectedMessage).where(RejectedMessage.digest == digest)),
        )
        assert row is not None
        assert row.reason
        assert row.detail
    else:
        assert accepted(ingest) == before_accepted + 2


def test_a_retired_worker_hands_back_its_share(
    cloud_settings: CloudSettings,
    influx: InfluxServer,
    publisher: mqtt.Client,
    spawn: Callable[..., Service],
) -> None:
    """Mosquitto queues a share for an offline group member; retiring it drains that
    queue and removes the session, after which the remaining worker gets everything."""

    def worker(name: str) -> IngestWorker:
        settings = cloud_settings.model_copy(
            update={"ingest": cloud_settings.ingest.model_copy(update={"worker_name": name})}
        )
        w = IngestWorker(settings)
        w.start()
        assert w.wait_connected(10)
        return w

    database = cloud_settings.influx.database
    stays = worker("stays")
    leaves = worker("leaves")
    wait_until(leaves.client.is_connected, timeout=10, what="both in the group")
    leaves.stop()  # offline: its session, and its share, stay at the broker
    for seq in range(400):
        publisher.publish("tianshan/v1/dev/box-1/telemetry", telemetry("box-1", seq, 1.0), qos=1)
    wait_until(lambda: accepted(stays) > 0, timeout=20, what="the remaining worker's share")
    settled = _settled(lambda: accepted(stays), quiet_s=1.0, timeout=20)
    stranded = 400 - settled
    assert stranded > 50, "the broker gave the offline member no share: nothing to test"

    result = spawn(
        "retire", "ingest", "--name", "leaves", "--retire", env=settings_env(cloud_settings)
    )
    assert result.proc is not None
    assert result.proc.wait(60) == 0, result.tail()
    assert f"{int(stranded)} queued messages ingested" in result.tail()
    try:
        before = accepted(stays)
        for seq in range(400, 600):
            publisher.publish(
                "tianshan/v1/dev/box-1/telemetry", telemetry("box-1", seq, 1.0), qos=1
            )
        wait_until(
            lambda: accepted(stays) == before + 200, timeout=20, what="everything to 'stays'"
        )
        assert influx_scalar(influx, database, 'SELECT count("v") FROM telemetry') == 600
    finally:
        stays.stop()
