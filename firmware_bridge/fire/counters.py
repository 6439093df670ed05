"""Thread-safe counts by key, read by metrics while a source's thread writes them."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Tally(Generic[K]):
    """Counts per key; every method may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[K] = Counter()

    def add(self, key: K, n: int = 1) -> None:
        """Count ``n`` more of ``key``."""
        with self._lock:
            self._counts[key] += n

    def __getitem__(self, key: K) -> int:
        with self._lock:
            return self._counts[key]

    def total(self) -> int:
        """The sum over all keys."""
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[K, int]:
        """A copy of the non-zero counts."""
        with self._lock:
            return {key: n for key, n in self._counts.items() if n}

    def __repr__(self) -> str:
        return f"Tally({self.snapshot()!r})"
