"""Log lines for an outbox that refuses to store (its disk is full or failing).

A producer that keeps what the outbox refused and tries again would otherwise log every
try. This says when the failures start, at most once a minute while they last (with what
is waiting), and when they end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

#: Seconds between two "still cannot store" lines while the outbox keeps failing.
LOG_EVERY_S: Final = 60.0


class StoreFailures:
    """The log of one producer's failed stores; ``what`` names the producer."""

    def __init__(self, what: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self._clock = clock
        self._since: float | None = None
        self._last_log = 0.0

    @property
    def failing(self) -> bool:
        """The last try failed."""
        return self._since is not None

    def failed(self, exc: Exception, kept: str) -> None:
        """A store failed; ``kept`` says what became of what was to be stored."""
        now = self._clock()
        if self._since is None:
            self._since = self._last_log = now
            log.error("%s: the outbox cannot store (%s); %s", self.what, exc, kept)
        elif now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            log.error(
                "%s: the outbox still cannot store (%s) after %.0f s; %s",
                self.what,
                exc,
                now - self._since,
                kept,
            )

    def recovered(self, lost: str = "") -> None:
        """A store succeeded; says so if the ones before it had failed."""
        if self._since is None:
            return
        log.warning(
            "%s: the outbox stores again, after %.0f s; what waited is stored%s",
            self.what,
            self._clock() - self._since,
            f", except {lost}" if lost else "",
        )
        self._since = None
