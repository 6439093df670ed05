"""When the outbox's database refuses to store (its disk is full or failing), the fire and
parking pipelines and the agent's telemetry keep what they could not store and store it
once the outbox works again: nothing is lost, nothing stops, and the log says so once.

The failure is SQLite's own: the outbox's connection is switched to ``PRAGMA query_only``,
so every write fails inside ``Outbox.put_many`` with "attempt to write a readonly
database", an ``sqlite3.OperationalError`` as a full disk (SQLITE_FULL) or a failing one
(SQLITE_IOERR) gives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from edge.agent import EdgeAgent
from edge.config import FireConfig
from edge.fire.pipeline import FirePipeline
from edge.held_events import HeldEvents
from edge.outbox import Lane, Outbox
from edge.parking.pipeline import ParkingPipeline
from firmware_bridge.ble import ReplaySource
from firmware_bridge.ble.truth import load_truth
from firmware_bridge.fire import PanelEvent, parse_line
from tests.edge_support import outbox_events, unconnected_agents
from tests.integration.test_parking_e2e import CAPTURE, parking_section
from wire import Reading, Severity, State, Telemetry, decode_device_message
from wire import fire as f

STORE_LOG = "edge.store_failures"


@contextmanager
def refusing(outbox: Outbox) -> Iterator[None]:
    """Every write to ``outbox`` fails, as on a full disk, until the block ends."""
    with outbox._lock:  # the test reaches the outbox's own connection
        outbox._db.execute("PRAGMA query_only = 1")
    try:
        yield
    finally:
        with outbox._lock:
            outbox._db.execute("PRAGMA query_only = 0")


#: Makes an unconnected agent of a kind: ``make_agent(root, kind, **config sections)``.
AgentMaker = Callable[..., EdgeAgent]


@pytest.fixture
def make_agent() -> Iterator[AgentMaker]:
    """A maker of unconnected agents whose outboxes are closed when the test ends."""
    with unconnected_agents() as new_agent:

        def make(root: Path, kind: str, **sections: Any) -> EdgeAgent:
            return new_agent(root, f"{kind}-1", kind, **sections)

        yield make


def stored_events(outbox: Outbox) -> list[tuple[Lane, str, str | None, dict[str, Any]]]:
    """Every event in the outbox, in order, as (lane, type, source, data)."""
    return [(lane, e.type, e.source, e.data) for lane, e in outbox_events(outbox)]


def what(
    events: list[tuple[Lane, str, str | None, dict[str, Any]]], lane: Lane
) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The events of ``lane``, without their times."""
    return [
        (t, src, {k: v for k, v in d.items() if k != "at_us"})
        for ln, t, src, d in events
        if ln is lane
    ]


def store_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == STORE_LOG and r.levelname == "ERROR"
    ]


def panel(line: str) -> PanelEvent:
    event = parse_line(line)
    assert event is not None
    return event


def test_a_fire_alarm_the_outbox_refuses_is_stored_in_order_on_a_later_tick(
    make_agent: AgentMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent(tmp_path, "fire")
    pipeline = FirePipeline(agent, FireConfig())
    caplog.set_level(logging.INFO)
    with refusing(agent.outbox):
        pipeline.handle_panel(panel("2024-03-14 10:47:00 FIRE ALARM Z005 L02-011 5F kitchen"))
        pipeline.handle_panel(panel("2024-03-14 10:48:00 FAULT L01-007 B1 call point"))
        pipeline.tick(time.monotonic())  # tries again, and fails again
        assert stored_events(agent.outbox) == []
        assert len(pipeline.held) == 2
    assert len(store_errors(caplog)) == 1, "one error line for a failure that lasts"

    pipeline.tick(time.monotonic())

    stored = stored_events(agent.outbox)
    assert [(lane, type_, source) for lane, type_, source, _ in stored] == [
        (Lane.ALARM, f.ALARM, "L02-011"),
        (Lane.ALARM, f.TROUBLE, "L01-007"),
    ]
    assert stored[0][3]["zone"] == "panel-z5"
    assert len(pipeline.held) == 0
    assert any("stores again" in r.getMessage() for r in caplog.records if r.name == STORE_LOG)


def test_a_parking_replay_loses_no_event_while_the_outbox_refuses_them_all(
    make_agent: AgentMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truth = load_truth(CAPTURE / "truth.json")
    section = parking_section(truth, datetime(2026, 1, 1, tzinfo=UTC))

    def replay(name: str) -> tuple[EdgeAgent, ParkingPipeline]:
        agent = make_agent(tmp_path / name, "parking", parking=section)
        assert agent.config.parking is not None
        source = ReplaySource(CAPTURE / "adverts.csv.xz", speed=None)
        pipeline = ParkingPipeline(agent, agent.config.parking, source=source, speed=None)
        return agent, pipeline

    reference_agent, reference = replay("reference")
    reference.start()
    assert reference.finished.wait(60)
    reference.stop()
    expected = stored_events(reference_agent.outbox)

    caplog.set_level(logging.INFO)
    agent, pipeline = replay("refusing")
    with refusing(agent.outbox):
        pipeline.start()
        assert pipeline.finished.wait(60), "the watch stopped when the outbox refused"
        assert stored_events(agent.outbox) == []
        waiting = len(pipeline.held)
    pipeline.stop()  # its last try stores what waits

    stored = stored_events(agent.outbox)
    assert len(stored) == waiting
    # Snapshots and times depend on when the tick thread ran (on the real clock); the
    # alarm-lane events, and their order, do not.
    assert what(stored, Lane.ALARM) == what(expected, Lane.ALARM)
    assert len(what(expected, Lane.ALARM)) >= 10
    assert len(store_errors(caplog)) == 1


def test_held_events_drop_telemetry_first_and_never_an_alarm(
    make_agent: AgentMaker, tmp_path: Path
) -> None:
    agent = make_agent(tmp_path, "parking")
    held = HeldEvents(agent, "test", limit=3)
    sends = [
        ("a.one", Lane.ALARM),
        ("t.one", Lane.TELEMETRY),
        ("a.two", Lane.ALARM),
        ("t.two", Lane.TELEMETRY),
        ("a.three", Lane.ALARM),
    ]
    with refusing(agent.outbox):
        for type_, lane in sends:
            held.send(type_, severity=Severity.INFO, source=None, data={}, lane=lane)
    assert held.dropped == 2
    held.retry()
    assert [t for _, t, _, _ in stored_events(agent.outbox)] == ["a.one", "a.two", "a.three"]


def test_an_event_that_can_never_be_stored_does_not_hold_up_the_rest(
    make_agent: AgentMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent(tmp_path, "fire")
    held = HeldEvents(agent, "test")
    with refusing(agent.outbox):
        held.send("a.one", severity=Severity.INFO, source=None, data={}, lane=Lane.ALARM)
        bad = cast("Severity", "not a severity")
        held.send("a.bad", severity=bad, source=None, data={}, lane=Lane.ALARM)
        held.send("a.two", severity=Severity.INFO, source=None, data={}, lane=Lane.ALARM)
    held.retry()
    assert [t for _, t, _, _ in stored_events(agent.outbox)] == ["a.one", "a.two"]
    assert any("cannot be stored" in r.getMessage() for r in caplog.records)


def test_telemetry_the_outbox_refuses_waits_in_memory_and_is_stored_later(
    make_agent: AgentMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent(tmp_path, "generic")
    readings = [Reading(ts=1_000 + i, field="t", value=float(i)) for i in range(5)]
    agent.add_readings(readings)
    with refusing(agent.outbox):
        agent._flush_telemetry(force=True)  # what the pump does
        assert agent.outbox.counters().depth["telemetry"] == 0
        assert len(agent.batcher) == 5
        agent.add_readings([Reading(ts=2_000, field="t", value=9.0)])
    assert len(store_errors(caplog)) == 1

    agent._flush_telemetry(force=True)

    (item,) = agent.outbox.take(10)
    message = decode_device_message(item.topic, item.payload)
    assert isinstance(message, Telemetry)
    assert [r.value for r in message.readings] == [0.0, 1.0, 2.0, 3.0, 4.0, 9.0]
    assert len(agent.batcher) == 0


def test_a_heartbeat_the_outbox_refuses_is_skipped_and_the_pump_goes_on(
    make_agent: AgentMaker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    agent = make_agent(tmp_path, "generic")
    with refusing(agent.outbox):
        agent._heartbeat_if_due()  # due at start; must not raise into the pump
    assert agent.outbox.counters().depth["telemetry"] == 0
    assert store_errors(caplog) == [
        "heartbeat: the outbox cannot store (attempt to write a readonly database); "
        "this heartbeat is skipped"
    ]
    agent._next_heartbeat = 0.0
    agent._heartbeat_if_due()
    (item,) = agent.outbox.take(10)
    assert isinstance(decode_device_message(item.topic, item.payload), State)
