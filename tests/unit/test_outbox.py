"""The outbox: durability, lane priority, replay, quota, sequence numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.outbox import ROW_OVERHEAD_BYTES, Entry, Lane, Outbox


def entry(lane: Lane, tag: str, *, readings: int = 0, size: int = 10) -> Entry:
    return Entry(
        lane, lambda seq: (f"t/{tag}", f"{tag}:{seq}".encode().ljust(size, b".")), readings=readings
    )


def payloads(items: list) -> list[str]:  # type: ignore[type-arg]
    return [i.payload.decode().rstrip(".") for i in items]


def test_lanes_drain_in_priority_then_arrival_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=10**6)
    box.put(entry(Lane.TELEMETRY, "t1"))
    box.put(entry(Lane.TRANSACTION, "x1"))
    box.put(entry(Lane.ALARM, "a1"))
    box.put(entry(Lane.TELEMETRY, "t2"))
    box.put(entry(Lane.ALARM, "a2"))
    assert payloads(box.take(10)) == ["a1:2", "a2:4", "x1:1", "t1:0", "t2:3"]
    assert box.take(10) == []  # handed out once until a rewind


def test_an_alarm_stored_later_overtakes_waiting_telemetry(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=10**6)
    for i in range(5):
        box.put(entry(Lane.TELEMETRY, f"t{i}"))
    assert payloads(box.take(2)) == ["t0:0", "t1:1"]
    box.put(entry(Lane.ALARM, "fire"))
    assert payloads(box.take(2)) == ["fire:5", "t2:2"]


def test_rewind_replays_everything_not_acknowledged_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=10**6)
    for i in range(4):
        box.put(entry(Lane.TELEMETRY, f"t{i}"))
    first = box.take(4)
    box.ack([first[0].id, first[2].id])
    box.rewind()
    assert payloads(box.take(10)) == ["t1:1", "t3:3"]


def test_messages_and_sequence_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, quota_bytes=10**6)
    assert box.put_many([entry(Lane.TELEMETRY, "a", readings=3), entry(Lane.ALARM, "b")]) == [0, 1]
    box.close()
    again = Outbox(path, quota_bytes=10**6)
    assert payloads(again.take(10)) == ["b:1", "a:0"]
    assert again.put(entry(Lane.TELEMETRY, "c")) == 2
    counters = again.counters()
    assert counters.readings_stored == 3
    assert counters.depth == {"alarm": 1, "transaction": 0, "telemetry": 2}


def test_a_failing_build_stores_nothing_and_uses_no_sequence(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=10**6)

    def broken(seq: int) -> tuple[str, bytes]:
        raise ValueError("cannot encode")

    with pytest.raises(ValueError, match="cannot encode"):
        box.put_many([entry(Lane.ALARM, "ok"), Entry(Lane.ALARM, broken)])
    assert box.counters().depth["alarm"] == 0
    assert box.put(entry(Lane.ALARM, "next")) == 0


def test_quota_drops_oldest_telemetry_only_and_counts_it(tmp_path: Path) -> None:
    row = len("t/t0") + 100 + ROW_OVERHEAD_BYTES
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=5 * row)  # room for exactly five
    box.put(entry(Lane.ALARM, "a0", size=100))
    for i in range(6):
        box.put(entry(Lane.TELEMETRY, f"t{i}", readings=10, size=100))
    box.put(entry(Lane.TRANSACTION, "x0", size=100))
    counters = box.counters()
    assert counters.stored_bytes <= box.quota_bytes
    assert counters.depth["alarm"] == 1
    assert counters.depth["transaction"] == 1
    assert counters.dropped_messages == 3
    assert counters.dropped_readings == 30
    # The survivors are the newest telemetry.
    assert payloads(box.take(10)) == ["a0:0", "x0:7", "t3:4", "t4:5", "t5:6"]


def test_alarms_are_kept_even_past_the_quota(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=300)
    for i in range(5):
        box.put(entry(Lane.ALARM, f"a{i}", size=100))
    assert box.counters().depth["alarm"] == 5
    assert box.counters().dropped_messages == 0


def test_telemetry_in_flight_is_not_dropped_by_the_quota(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=3 * (len("t/t0") + 100 + ROW_OVERHEAD_BYTES))
    for i in range(3):
        box.put(entry(Lane.TELEMETRY, f"t{i}", readings=1, size=100))
    in_flight = box.take(2)
    box.put(entry(Lane.TELEMETRY, "t3", readings=1, size=100))
    box.ack([i.id for i in in_flight])
    # t2 (not yet handed out) went to make room; t0 and t1 reached the broker.
    assert box.counters().dropped_messages == 1
    assert payloads(box.take(10)) == ["t3:3"]


def test_dead_letters_leave_the_lane(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", quota_bytes=10**6)
    box.put(entry(Lane.ALARM, "refused"))
    box.put(entry(Lane.ALARM, "fine"))
    first = box.take(1)[0]
    box.dead_letter(first.id, "Not authorized")
    box.rewind()
    assert payloads(box.take(10)) == ["fine:1"]
    assert box.counters().dead_letters == 1


def test_meta_is_committed_with_messages(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, quota_bytes=10**6)
    box.put_many([], meta={"cursor": "42"})
    box.close()
    assert Outbox(path, quota_bytes=10**6).meta("cursor") == "42"
