"""The parking pipeline on the box: advertisements in (a replayed capture or the BlueZ
radio), stud, bay and zone events out (alarm lane, one per message), steady state as
batched telemetry and a periodic snapshot (telemetry lane).

One thread reads the source and runs the logic on each record, ticking on the records'
own time; a second ticks on the source clock when nothing arrives at all, so a radio
gone quiet still brings every stud's offline event in time. A lock keeps the two apart.
An event the outbox cannot store waits in memory and is stored on the next send or tick
(``edge.held_events``); the watch goes on.
"""

from __future__ import annotations

import logging
import threading
import time

from edge.agent import EdgeAgent
from edge.config import ParkingConfig
from edge.held_events import HeldEvents
from edge.outbox import Lane
from edge.parking.clock import SourceClock
from edge.parking.logic import Outgoing, ParkingLogic
from firmware_bridge.ble import AdvertisementSource, ReplaySource
from firmware_bridge.ble.bleak_source import BleakScannerSource

log = logging.getLogger(__name__)


class ParkingPipeline:
    def __init__(
        self,
        agent: EdgeAgent,
        config: ParkingConfig,
        *,
        source: AdvertisementSource,
        speed: float | None = 1.0,
        start_at: float | None = None,
    ) -> None:
        """``speed``: source seconds per real second (``None``: a replay as fast as it
        reads). ``start_at``: the wall time (Unix s) of the source's t = 0, for a replay;
        ``None`` for a live radio, whose records carry Unix time already."""
        self.agent = agent
        self.config = config
        self.source = source
        self.logic = ParkingLogic(config)
        self.held = HeldEvents(agent, "parking")
        self.clock = SourceClock(speed=speed, horizon=source.horizon)
        self._start_at = start_at
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.finished = threading.Event()
        self._finished_logic = False  # the final report is made (under the lock)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for target, name in ((self._read, "parking-read"), (self._tick, "parking-tick")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.source.close()
        for thread in self._threads:
            thread.join(5)
        with self._lock:
            self.held.close()

    def _read(self) -> None:
        logic, clock, lock = self.logic, self.clock, self._lock
        try:
            for record in self.source.records():
                if self._stop.is_set():
                    break
                with lock:
                    if logic.started is None and self._start_at is not None:
                        logic.epoch_offset_s = self._start_at - record.t
                    try:
                        logic.feed(record)
                    except Exception:  # one bad record must not end the watch
                        log.exception("parking: could not handle a record from %s", record.address)
                    clock.advance(record.t)
                    if logic.events or len(logic.readings) >= 500:
                        self._send()
            with lock:
                logic.finish()
                self._send()
                self._finished_logic = True
            log.info(
                "parking source ended after %d records (skips: %s; source: %s)",
                logic.records,
                dict(logic.skips),
                self.source.counters(),
            )
        finally:
            self.finished.set()

    def _tick(self) -> None:
        tick_s = self.config.tick_s
        wait = tick_s / self.clock.speed if self.clock.speed else tick_s
        while not self._stop.wait(min(wait, 1.0)) and not self.finished.is_set():
            with self._lock:
                # Under the lock: no tick after the final report, and none on a clock read
                # before the reader took the last records.
                now = self.clock.now()
                if self._finished_logic:
                    return
                if now is None:
                    continue
                self.logic.tick(now)
                self._send()

    def _send(self) -> None:
        events, readings = self.logic.take()
        self.held.retry()
        for event in events:
            self._send_event(event)
        if readings:
            self.agent.add_readings(readings)

    def _send_event(self, event: Outgoing) -> None:
        if not event.steady:
            log.warning("%s %s", event.type, event.source)
        self.held.send(
            event.type,
            severity=event.severity,
            source=event.source,
            data=event.data.model_dump(mode="json"),
            lane=Lane.TELEMETRY if event.steady else Lane.ALARM,
        )


def open_parking_source(
    config: ParkingConfig,
) -> tuple[AdvertisementSource, float | None, float | None]:
    """The configured source, its speed and the wall time of its t = 0 (replay)."""
    src = config.source
    if src.kind == "replay":
        assert src.path is not None
        speed = src.speed or None
        start_at = src.start_at.timestamp() if src.start_at is not None else time.time()
        return ReplaySource(src.path, speed=speed), speed, start_at
    live = BleakScannerSource(adapter=src.adapter, silence_timeout=src.silence_restart_s)
    return live, 1.0, None
