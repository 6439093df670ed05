"""Telemetry batching: many readings into one message, by count and by age.

The MQTT client, not the database, is the throughput ceiling, so readings travel in
batches. Readings wait here, in memory, for at most ``max_age_s`` (or until
``max_readings`` are waiting); a flush turns them into messages in the outbox, where
they become durable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

from wire import Reading


class TelemetryBatcher:
    def __init__(
        self,
        *,
        max_readings: int,
        max_age_s: float,
        wake: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_readings = max_readings
        self.max_age_s = max_age_s
        self._wake = wake
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[Reading] = []
        self._oldest: float | None = None
        #: Readings dropped by :meth:`put_back` to stay within ``max_waiting``.
        self.dropped = 0

    def add(self, readings: Iterable[Reading]) -> None:
        """Queue readings; wakes the flusher when a full batch is waiting."""
        with self._lock:
            before = len(self._pending)
            self._pending.extend(readings)
            if before == 0 and self._pending:
                self._oldest = self._clock()
            full = len(self._pending) >= self.max_readings
        if full:
            self._wake()

    def due_in(self) -> float | None:
        """Seconds until the oldest waiting reading must go; None when nothing waits."""
        with self._lock:
            if not self._pending or self._oldest is None:
                return None
            if len(self._pending) >= self.max_readings:
                return 0.0
            return max(0.0, self._oldest + self.max_age_s - self._clock())

    def take_due(self, *, force: bool = False) -> list[list[Reading]]:
        """The batches that must go now (all of them with ``force``), each at most
        ``max_readings`` long. What is not due stays."""
        with self._lock:
            if not self._pending:
                return []
            aged = self._oldest is not None and self._clock() - self._oldest >= self.max_age_s
            if force or aged:
                cut = len(self._pending)
            else:
                cut = len(self._pending) - len(self._pending) % self.max_readings
            if cut == 0:
                return []
            ready, self._pending = self._pending[:cut], self._pending[cut:]
            # The remainder is no older than the old mark: keeping it flushes early, never late.
            if not self._pending:
                self._oldest = None
        return [ready[i : i + self.max_readings] for i in range(0, len(ready), self.max_readings)]

    def put_back(self, batches: Sequence[list[Reading]], *, max_waiting: int) -> int:
        """Return batches the outbox could not store, ahead of what has come since, due at
        once. If more than ``max_waiting`` readings would wait, the oldest are dropped;
        returns how many (also added to :attr:`dropped`)."""
        returned = [r for batch in batches for r in batch]
        with self._lock:
            self._pending[:0] = returned
            self._oldest = self._clock() - self.max_age_s
            excess = max(0, len(self._pending) - max_waiting)
            if excess:
                del self._pending[:excess]
                self.dropped += excess
        return excess

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
