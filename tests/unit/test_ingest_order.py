"""The ingest's queue: an event goes ahead of a telemetry backlog, while the PUBACKs
still leave in the order the messages arrived (MQTT 5, section 4.6).

The worker is built but never connected: these are its queueing decisions alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cloud.config import load_settings
from cloud.ingest.batch import Received
from cloud.ingest.worker import IngestWorker
from wire import Event, Reading, Severity, Telemetry, device_topic, encode, fire


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[IngestWorker]:
    settings = load_settings(
        None,
        sql={"url": f"sqlite:///{tmp_path}/cloud.sqlite"},
        ingest={"batch_max_lines": 4, "batch_max_delay_s": 0.2},
    )
    w = IngestWorker(settings)
    w._connected.set()  # as if connected: _ack may run (the client queues the PUBACKs)
    yield w
    w.engine.dispose()
    w.influx.close()


def deliver(w: IngestWorker, mid: int, message: Telemetry | Event) -> None:
    m = mqtt.MQTTMessage(mid=mid, topic=device_topic("box-1", message.channel).encode())
    m.payload = encode(message)
    m.qos = 1
    w._on_message(w.client, None, m)


def telemetry(seq: int) -> Telemetry:
    return Telemetry(
        device_id="box-1", seq=seq, readings=[Reading(ts=1, field="t", value=float(seq))]
    )


def mids(batch: list[Received] | None) -> list[int]:
    assert batch is not None
    return [item.mid for item in batch]


def test_an_event_is_written_before_earlier_telemetry_but_acknowledged_after_it(
    worker: IngestWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    acked: list[int] = []
    monkeypatch.setattr(worker.client, "ack", lambda mid, qos: acked.append(mid))
    for mid in range(1, 7):  # a backlog of 6 readings, batches of 4 lines
        deliver(worker, mid, telemetry(mid))
    data = fire.FireAlarm(zone="Z1", detector="D1", cause=fire.Cause.OBSCURATION, value=4.5)
    alarm = Event(
        device_id="box-1",
        seq=7,
        type=fire.ALARM,
        severity=Severity.CRITICAL,
        data=data.model_dump(mode="json"),
    )
    deliver(worker, 7, alarm)

    first = worker._next_batch()
    assert mids(first)[0] == 7  # the alarm first, then telemetry to fill the batch
    assert mids(first)[1:] == [1, 2, 3]
    assert first is not None
    worker._ack(first)
    assert acked == [1, 2, 3]  # the alarm's PUBACK waits for 4, 5 and 6

    second = worker._next_batch()
    assert mids(second) == [4, 5, 6]
    assert second is not None
    worker._ack(second)
    assert acked == [1, 2, 3, 4, 5, 6, 7]


def test_a_batch_given_up_is_not_acknowledged_and_does_not_hold_up_the_rest(
    worker: IngestWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    acked: list[int] = []
    monkeypatch.setattr(worker.client, "ack", lambda mid, qos: acked.append(mid))
    for mid in range(1, 9):
        deliver(worker, mid, telemetry(mid))
    failed = worker._next_batch()
    later = worker._next_batch()
    assert mids(failed) == [1, 2, 3, 4]
    assert later is not None
    assert failed is not None
    worker._ack(later)
    assert acked == []  # 1-4 not settled yet
    worker._ack(failed, durable=False)  # what the writer does after an unexpected error
    assert acked == [5, 6, 7, 8]  # the broker redelivers 1-4 on the next connection
