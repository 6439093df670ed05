"""A scripted fire drill on simulated detectors, for ``tianshan sim`` and the demo.

One drill, repeated every ``every_s`` seconds: smoke builds up at the first smoke
detector (pre-alarm, then alarm), a little later at the second one in the same zone
(two detectors: a confirmed fire, so the console proposes dispatch), holds, then
clears at both (restore). Between drills the detectors read normal, with the
simulator's own sensor noise.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from firmware_bridge.fire.sim import CLEAN_AIR_PCT_PER_M as CLEAR_PCT_M
from firmware_bridge.fire.sim import DetectorSimulator

log = logging.getLogger(__name__)

#: The smoke a drill builds up to, %/m: over the default alarm threshold (3.0).
SMOKE_PCT_M = 4.5


@dataclass(frozen=True)
class DrillPlan:
    """When things happen within one drill, seconds from its start."""

    build_up_s: float = 10.0  # clean air to SMOKE_PCT_M at the first detector
    second_after_s: float = 20.0  # the second detector follows
    hold_s: float = 90.0  # both stay in smoke this long after the second one
    steps: int = 10  # the build-up goes in this many steps

    def __post_init__(self) -> None:
        if min(self.build_up_s, self.second_after_s, self.hold_s) < 0 or self.steps < 1:
            raise ValueError("drill times must be ≥ 0 and steps ≥ 1")

    @property
    def length_s(self) -> float:
        return self.second_after_s + self.build_up_s + self.hold_s


class FireDrill:
    """Runs drills on two smoke units of ``sim`` in a background thread until stopped."""

    def __init__(
        self,
        sim: DetectorSimulator,
        *,
        units: tuple[int, int],
        every_s: float,
        plan: DrillPlan | None = None,
        first_s: float = 30.0,
    ) -> None:
        missing = [u for u in units if u not in sim.units]
        if missing:
            raise ValueError(f"drill units {missing} are not simulated (have {list(sim.units)})")
        self._plan = plan or DrillPlan()
        if every_s <= self._plan.length_s:
            raise ValueError(
                f"a drill lasts {self._plan.length_s:.0f} s; --fire-drill-every must be longer"
            )
        self._sim = sim
        self._units = units
        self._every_s = every_s
        self._first_s = first_s  # lets the boxes and the console come up first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.drills = 0

    def start(self) -> None:
        for unit in self._units:
            self._sim.set_obscuration(unit, CLEAR_PCT_M)
        self._thread = threading.Thread(target=self._run, name="fire-drill", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        first = self._first_s
        while not self._stop.wait(first):
            first = self._every_s - self._plan.length_s
            self.drills += 1
            log.info("fire drill %d: smoke at unit %d", self.drills, self._units[0])
            if not self._build_up(self._units[0]):
                return
            if self._stop.wait(self._plan.second_after_s):
                return
            log.info("fire drill %d: smoke at unit %d as well", self.drills, self._units[1])
            if not self._build_up(self._units[1]) or self._stop.wait(self._plan.hold_s):
                return
            for unit in self._units:
                self._sim.set_obscuration(unit, CLEAR_PCT_M)
            log.info("fire drill %d: air clear again", self.drills)

    def _build_up(self, unit: int) -> bool:
        """Smoke rises in steps; False when stopped meanwhile."""
        step_s = self._plan.build_up_s / self._plan.steps
        for k in range(1, self._plan.steps + 1):
            level = CLEAR_PCT_M + (SMOKE_PCT_M - CLEAR_PCT_M) * k / self._plan.steps
            self._sim.set_obscuration(unit, level)
            if self._stop.wait(step_s):
                return False
        return True
