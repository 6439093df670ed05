"""The time the parking logic runs on: the advertisements' own, so a replay at any
speed decides the same; between records it runs on at the source's pace, so timeouts
still fall due when nothing at all is heard."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SourceClock:
    """``now()`` is the last record's time plus the real time since, times ``speed``
    (capture seconds per real second: 1 for a live radio; ``None`` for a replay read as
    fast as possible, where only the records move time), but never past ``horizon()``: the
    time of a record the source holds and the reader has not taken yet (a replay's next
    one; ``None``, no such limit). A reader held up for half a second on a loaded machine
    is 90 capture seconds behind at 180 times the pace; without the horizon a ticking
    clock would time out studs whose next advertisement was only waiting in the file."""

    def __init__(
        self,
        *,
        speed: float | None = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        horizon: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.speed = speed
        self._monotonic = monotonic
        self._horizon = horizon
        self._lock = threading.Lock()
        self._t: float | None = None
        self._at = 0.0

    def advance(self, t: float) -> None:
        """A record of time ``t`` arrived (time never goes back)."""
        with self._lock:
            if self._t is None or t >= self._t:
                self._t, self._at = t, self._monotonic()

    def now(self) -> float | None:
        """The source's time now; ``None`` before the first record."""
        with self._lock:
            if self._t is None:
                return None
            if self.speed is None:
                return self._t
            last = self._t
            now = last + (self._monotonic() - self._at) * self.speed
        limit = self._horizon()
        return now if limit is None else min(now, max(limit, last))
