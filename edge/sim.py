"""A simulated fleet: N virtual devices, each a real :class:`EdgeAgent` (own outbox,
own MQTT connection, own last will), fed with deterministic readings.

Reading ``i`` of device ``d`` has a fixed field, timestamp and value, so a test can
say exactly what InfluxDB must hold. The timeline is resumable: after a crash each
device continues from the readings its outbox has durably stored.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge.agent import EdgeAgent
from edge.config import AgentConfig, HeartbeatConfig, IdentityConfig, OutboxConfig, TelemetryConfig
from edge.outbox import Lane
from wire import Reading, Severity, now_us

log = logging.getLogger(__name__)

FIELDS = ("temperature", "humidity", "power_w", "smoke")
_T0_KEY = "sim.t0_us"


def reading_value(device_index: int, i: int) -> float:
    """Deterministic, plausible, and distinct enough to catch mix-ups."""
    name = FIELDS[i % len(FIELDS)]
    phase = i / 400 + device_index
    wiggle = ((i * 7919 + device_index * 104729) % 1000) / 1000
    if name == "temperature":
        return round(21 + 4 * math.sin(phase) + wiggle, 3)
    if name == "humidity":
        return round(55 + 15 * math.cos(phase) + wiggle, 3)
    if name == "power_w":
        return round(800 + 300 * math.sin(phase / 3) + 10 * wiggle, 3)
    return round(0.02 + 0.01 * wiggle, 5)


def reading_at(device_index: int, i: int, *, t0_us: int, period_us: int) -> Reading:
    return Reading.model_construct(
        ts=t0_us + i * period_us,
        field=FIELDS[i % len(FIELDS)],
        value=reading_value(device_index, i),
        tags=None,
    )


@dataclass
class SimSettings:
    devices: int = 4
    rate: float = 10.0  # readings per second per device
    count: int | None = None  # readings per device, then stop generating
    prefix: str = "sim"
    kind: str = "sim"
    site: str = "tianshan-road"
    data_dir: Path = Path("var/sim")
    batch_readings: int = 500
    batch_age_s: float = 1.0
    heartbeat_s: float = 10.0
    events_every_s: float | None = None
    base: AgentConfig | None = None  # broker, TLS, window… shared by every device

    def device_id(self, index: int) -> str:
        return f"{self.prefix}-{index:03d}"


#: Readings one device generates per tick at most (about 10 MB of them in memory).
MAX_PER_TICK = 20_000


@dataclass
class SimDevice:
    index: int
    agent: EdgeAgent
    t0_us: int
    period_us: int
    next_index: int
    generated: int = 0
    last_event: float = field(default_factory=time.monotonic)

    def due(self, now_us_: int, limit: int | None) -> Iterator[Reading]:
        """Readings whose time has come (catching up after a pause), up to ``limit``,
        and at most ``MAX_PER_TICK`` at a time: a device far behind (a huge rate, or
        after a pause) must not hold its whole backlog in memory at once."""
        end = (now_us_ - self.t0_us) // self.period_us + 1
        end = min(end, self.next_index + MAX_PER_TICK)
        if limit is not None:
            end = min(end, limit)
        for i in range(self.next_index, max(self.next_index, end)):
            yield reading_at(self.index, i, t0_us=self.t0_us, period_us=self.period_us)
        generated = max(0, end - self.next_index)
        self.next_index += generated
        self.generated += generated


class Fleet:
    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.devices: list[SimDevice] = []
        self._stop = threading.Event()
        period_us = max(1, round(1_000_000 / settings.rate))
        for index in range(settings.devices):
            agent = EdgeAgent(self._agent_config(index), software="tianshan-sim/1")
            t0 = agent.outbox.meta(_T0_KEY)
            if t0 is None:
                t0_us = now_us()
                agent.outbox.put_many([], meta={_T0_KEY: str(t0_us)})
            else:
                t0_us = int(t0)
            resume = agent.outbox.counters().readings_stored
            self.devices.append(SimDevice(index, agent, t0_us, period_us, resume))
        resumed = sum(d.next_index for d in self.devices)
        if resumed:
            log.info(
                "resuming %d devices after %d readings already stored", len(self.devices), resumed
            )

    def _agent_config(self, index: int) -> AgentConfig:
        s = self.settings
        base = s.base or AgentConfig(device=IdentityConfig(id=s.device_id(index)))
        device_id = s.device_id(index)
        return base.model_copy(
            update={
                "device": IdentityConfig.model_validate(
                    {"id": device_id, "kind": s.kind, "site": s.site}
                ),
                "outbox": OutboxConfig(
                    path=s.data_dir / device_id / "outbox.sqlite",
                    quota_mb=base.outbox.quota_mb,
                ),
                "telemetry": TelemetryConfig(
                    max_readings=s.batch_readings, max_age_s=s.batch_age_s
                ),
                "heartbeat": HeartbeatConfig(interval_s=s.heartbeat_s),
                "state_dir": s.data_dir / device_id,
            }
        )

    @property
    def done_generating(self) -> bool:
        limit = self.settings.count
        return limit is not None and all(d.next_index >= limit for d in self.devices)

    def start(self) -> None:
        for d in self.devices:
            d.agent.start()

    def stop(self) -> None:
        self._stop.set()
        for d in self.devices:
            d.agent.stop()

    def request_stop(self) -> None:
        self._stop.set()

    def run(self, *, tick_s: float = 0.05, report_every_s: float = 10.0) -> None:
        """Generate until ``count`` readings per device (or until stopped)."""
        last_report = time.monotonic()
        reported = sum(d.generated for d in self.devices)
        while not self._stop.is_set() and not self.done_generating:
            now = now_us()
            for d in self.devices:
                d.agent.add_readings(list(d.due(now, self.settings.count)))
                self._maybe_event(d)
            mono = time.monotonic()
            if mono - last_report >= report_every_s:
                total = sum(d.generated for d in self.devices)
                depth = sum(sum(d.agent.outbox.counters().depth.values()) for d in self.devices)
                log.info(
                    "sim: %.0f readings/s generated, %d messages waiting in outboxes",
                    (total - reported) / (mono - last_report),
                    depth,
                )
                last_report, reported = mono, total
            self._stop.wait(tick_s)

    def _maybe_event(self, d: SimDevice) -> None:
        every = self.settings.events_every_s
        if every is None or time.monotonic() - d.last_event < every:
            return
        d.last_event = time.monotonic()
        d.agent.send_event(
            "sim.door_open",
            severity=Severity.INFO,
            data={"door": "kitchen"},
            source=f"door-{d.index}",
            lane=Lane.TRANSACTION,
        )

    def drain(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(d.agent.drain(max(0.0, deadline - time.monotonic())) for d in self.devices)

    def summary(self) -> dict[str, object]:
        devices = {}
        for d in self.devices:
            c = d.agent.outbox.counters()
            devices[d.agent.device_id] = {
                "t0_us": d.t0_us,
                "period_us": d.period_us,
                "readings_generated": d.next_index,
                "readings_stored": c.readings_stored,
                "outbox_depth": sum(c.depth.values()),
                "dropped_readings": c.dropped_readings,
            }
        return {"devices": devices}
