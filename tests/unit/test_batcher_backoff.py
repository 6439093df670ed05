"""Telemetry batching by count and age; reconnect backoff with jitter."""

from __future__ import annotations

import random

import pytest

from edge.backoff import Backoff
from edge.batcher import TelemetryBatcher
from wire import Reading


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def readings(n: int, start: int = 0) -> list[Reading]:
    return [Reading(ts=start + i, field="v", value=float(start + i)) for i in range(n)]


def test_full_batches_go_at_once_and_wake_the_flusher() -> None:
    woken: list[bool] = []
    b = TelemetryBatcher(
        max_readings=3, max_age_s=5, wake=lambda: woken.append(True), clock=Clock()
    )
    b.add(readings(2))
    assert woken == []
    assert b.take_due() == []
    b.add(readings(5, start=2))
    assert woken == [True]
    batches = b.take_due()
    assert [[r.ts for r in batch] for batch in batches] == [[0, 1, 2], [3, 4, 5]]
    assert len(b) == 1  # the remainder waits for its age


def test_a_partial_batch_goes_when_its_oldest_reading_is_old_enough() -> None:
    clock = Clock()
    b = TelemetryBatcher(max_readings=100, max_age_s=1.0, wake=lambda: None, clock=clock)
    b.add(readings(2))
    clock.now += 0.6
    b.add(readings(1, start=2))
    assert b.due_in() == pytest.approx(0.4)
    assert b.take_due() == []
    clock.now += 0.4
    assert [len(batch) for batch in b.take_due()] == [3]
    assert b.due_in() is None


def test_force_flushes_everything() -> None:
    b = TelemetryBatcher(max_readings=2, max_age_s=60, wake=lambda: None, clock=Clock())
    b.add(readings(5))
    assert [len(x) for x in b.take_due(force=True)] == [2, 2, 1]
    assert len(b) == 0


def test_batches_put_back_go_first_and_at_once_within_a_bound() -> None:
    b = TelemetryBatcher(max_readings=100, max_age_s=60, wake=lambda: None, clock=Clock())
    b.add(readings(4))
    refused = b.take_due(force=True)
    b.add(readings(2, start=4))  # came while the outbox refused the first four
    assert b.put_back(refused, max_waiting=5) == 1
    assert b.dropped == 1
    assert b.due_in() == 0.0
    assert [[r.ts for r in batch] for batch in b.take_due()] == [[1, 2, 3, 4, 5]]


def test_backoff_doubles_with_jitter_and_caps() -> None:
    backoff = Backoff(0.5, 8.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(8)]
    nominal = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for delay, cap in zip(delays, nominal, strict=True):
        assert cap / 2 <= delay <= cap
    backoff.reset()
    assert backoff.next() <= 0.5


def test_jitter_spreads_a_fleet() -> None:
    first_retries = {round(Backoff(1, 30).next(), 3) for _ in range(50)}
    assert len(first_retries) > 40


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="min_s"):
        Backoff(5, 1)
