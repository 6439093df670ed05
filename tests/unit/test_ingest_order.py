"""The ingest's queues: events come on a session of their own and go ahead of a
telemetry backlog, while on each session the PUBACKs leave in the order the messages
arrived (MQTT 5, section 4.6).

The worker is built but never connected: these are its queueing decisions alone."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cloud.config import load_settings
from cloud.ingest import worker as worker_module
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
    for link in w.links:
        link.connected.set()  # as if connected: _ack may run (the client queues the PUBACKs)
    yield w
    w.engine.dispose()
    w.influx.close()


def deliver(
    w: IngestWorker, mid: int, message: Telemetry | Event, *, link: int | None = None
) -> None:
    """As the broker would: events on the worker's events session, the rest on the other."""
    on = (
        w.links[link]
        if link is not None
        else next(one for one in w.links if message.channel in one.channels)
    )
    m = mqtt.MQTTMessage(mid=mid, topic=device_topic("box-1", message.channel).encode())
    m.payload = encode(message)
    m.qos = 1
    w._on_message(on, on.client, None, m)


def record_acks(w: IngestWorker, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(session, packet id) of each PUBACK, in the order they are sent."""
    acked: list[tuple[int, int]] = []
    session = {id(link.client): link.index for link in w.links}

    def ack_many(client: mqtt.Client, mids: Sequence[int]) -> None:
        acked.extend((session[id(client)], mid) for mid in mids)

    monkeypatch.setattr(worker_module, "ack_many", ack_many)
    return acked


def telemetry(seq: int) -> Telemetry:
    return Telemetry(
        device_id="box-1", seq=seq, readings=[Reading(ts=1, field="t", value=float(seq))]
    )


def mids(batch: list[Received] | None) -> list[int]:
    assert batch is not None
    return [item.mid for item in batch]


def fire_alarm(seq: int) -> Event:
    data = fire.FireAlarm(zone="Z1", detector="D1", cause=fire.Cause.OBSCURATION, value=4.5)
    return Event(
        device_id="box-1",
        seq=seq,
        type=fire.ALARM,
        severity=Severity.CRITICAL,
        data=data.model_dump(mode="json"),
    )


def taken(batch: list[Received] | None) -> list[tuple[int, int]]:
    assert batch is not None
    return [(item.link, item.mid) for item in batch]


def test_an_alarm_comes_on_its_own_session_and_is_written_and_acknowledged_first(
    worker: IngestWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    acked = record_acks(worker, monkeypatch)
    for mid in range(1, 7):  # a backlog of 6 readings, batches of 4 lines
        deliver(worker, mid, telemetry(mid))
    deliver(worker, 1, fire_alarm(7))  # packet ids are per session

    first = worker._next_batch()
    assert taken(first) == [(1, 1)]  # the alarm alone: its write as short as can be
    assert first is not None
    worker._ack(first)
    assert acked == [(1, 1)]  # on its own session, it waits for no earlier telemetry

    second = worker._next_batch()
    assert taken(second) == [(0, 1), (0, 2), (0, 3), (0, 4)]
    assert second is not None
    worker._ack(second)
    assert acked[1:] == [(0, 1), (0, 2), (0, 3), (0, 4)]


def test_an_event_behind_telemetry_on_one_session_is_written_first_acknowledged_in_order(
    worker: IngestWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a session that subscribed to events before they had a session of their own."""
    acked = record_acks(worker, monkeypatch)
    for mid in range(1, 7):
        deliver(worker, mid, telemetry(mid))
    deliver(worker, 7, fire_alarm(7), link=0)

    first = worker._next_batch()
    assert mids(first) == [7]
    assert first is not None
    worker._ack(first)
    assert acked == []  # the alarm is written, but its PUBACK waits for 1 to 6

    second = worker._next_batch()
    assert mids(second) == [1, 2, 3, 4]
    assert second is not None
    worker._ack(second)
    assert acked == [(0, 1), (0, 2), (0, 3), (0, 4)]
    third = worker._next_batch()
    assert third is not None
    worker._ack(third)
    assert [mid for _, mid in acked] == [1, 2, 3, 4, 5, 6, 7]


def test_telemetry_kept_waiting_too_long_joins_a_batch_of_events(worker: IngestWorker) -> None:
    deliver(worker, 1, telemetry(1))
    worker._pending[0].received -= 10 * worker.cfg.batch_max_delay_s  # waited that long
    deliver(worker, 1, fire_alarm(2))
    assert taken(worker._next_batch()) == [(1, 1), (0, 1)]


def test_a_batch_given_up_is_not_acknowledged_and_does_not_hold_up_the_rest(
    worker: IngestWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    acked = record_acks(worker, monkeypatch)
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
    assert acked == [(0, 5), (0, 6), (0, 7), (0, 8)]  # 1-4 come again on the next connection
