"""Exponential backoff with jitter, so a fleet that lost its broker does not return in step."""

from __future__ import annotations

import random


class Backoff:
    """Delays of ``min_s · 2ⁿ`` capped at ``max_s``, each drawn uniformly from its upper
    half ("equal jitter"): never shorter than half the nominal delay, never in step."""

    def __init__(self, min_s: float, max_s: float, *, rng: random.Random | None = None) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError("backoff needs 0 < min_s <= max_s")
        self.min_s = min_s
        self.max_s = max_s
        self._rng = rng or random.Random()
        self.attempt = 0

    def next(self) -> float:
        nominal = min(self.max_s, self.min_s * 2.0 ** min(self.attempt, 60))
        self.attempt += 1
        return self._rng.uniform(nominal / 2, nominal)

    def reset(self) -> None:
        self.attempt = 0
