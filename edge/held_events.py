"""Events a monitoring pipeline must not lose when the outbox cannot store them.

The fire and parking pipelines decide on state changes once: a detector that has gone to
alarm does not go to alarm again. If the outbox's database refuses the event (its disk is
full or failing), dropping it would lose the alarm for good, and letting the exception out
would stop the pipeline. So the event waits here, in memory and in order, and every later
``send`` or ``retry`` (the pipelines retry on their tick) stores the waiting events first,
oldest first, until the outbox takes them again.

Memory is bounded: past ``limit`` waiting events the oldest telemetry-lane event is
dropped and counted (the outbox's own quota drops telemetry the same way); alarm-lane
events are never dropped.

Not thread-safe: each pipeline calls it from one thread at a time (the fire pipeline's
deciding thread; the parking pipeline under its lock).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from dataclasses import dataclass
from typing import Final

from edge.agent import EdgeAgent
from edge.outbox import Lane
from edge.store_failures import StoreFailures
from wire import Severity

log = logging.getLogger(__name__)

#: Waiting events kept in memory before telemetry-lane ones are dropped.
LIMIT: Final = 10_000


@dataclass(frozen=True, slots=True)
class _Held:
    type: str
    severity: Severity
    source: str | None
    data: dict[str, object]
    lane: Lane


class HeldEvents:
    """``agent.send_event`` that keeps what the outbox refuses and stores it later."""

    def __init__(self, agent: EdgeAgent, name: str, *, limit: int = LIMIT) -> None:
        self.agent = agent
        self.name = name
        self.limit = limit
        self.dropped = 0
        self._waiting: deque[_Held] = deque()
        self._failures = StoreFailures(f"{name} events")

    def __len__(self) -> int:
        return len(self._waiting)

    def send(
        self,
        type_: str,
        *,
        severity: Severity,
        source: str | None,
        data: dict[str, object],
        lane: Lane,
    ) -> None:
        """Store the event now, after any still waiting; if the outbox refuses, keep it.

        A malformed event (pydantic's ValidationError) or one too big to send
        (``wire.PayloadTooLarge``) would never store: it raises as from ``send_event`` when
        nothing waits, and is logged and dropped when it reaches the front of the queue.
        """
        held = _Held(type_, severity, source, data, lane)
        if not self._waiting:
            try:
                self._store(held)
            except sqlite3.Error as exc:
                self._keep(held)
                self._failures.failed(exc, self._kept())
            return
        self._keep(held)
        self.retry()

    def retry(self) -> None:
        """Store the waiting events, oldest first, until the outbox refuses one."""
        while self._waiting:
            try:
                self._store(self._waiting[0])
            except sqlite3.Error as exc:
                self._failures.failed(exc, self._kept())
                return
            except Exception:  # never storable: it must not hold up the events behind it
                log.exception("%s: dropping an event that cannot be stored", self.name)
            self._waiting.popleft()
        self._failures.recovered(
            f"{self.dropped} telemetry events dropped since the start" if self.dropped else ""
        )

    def _store(self, held: _Held) -> None:
        self.agent.send_event(
            held.type, severity=held.severity, source=held.source, data=held.data, lane=held.lane
        )

    def _keep(self, held: _Held) -> None:
        self._waiting.append(held)
        if len(self._waiting) <= self.limit:
            return
        oldest = next((h for h in self._waiting if h.lane is Lane.TELEMETRY), None)
        if oldest is not None:
            self._waiting.remove(oldest)
            self.dropped += 1

    def _kept(self) -> str:
        n = len(self._waiting)
        return f"{n} event{'' if n == 1 else 's'} wait in memory for the next try"

    def close(self) -> None:
        """A last try, when the pipeline stops: what is still waiting is lost, and logged."""
        self.retry()
        if self._waiting:
            log.error(
                "%s: stopping with %d events the outbox could not store: they are lost",
                self.name,
                len(self._waiting),
            )
