"""The fire pipeline on the box: Modbus detectors and the panel's printer port in,
alarm and trouble events out (alarm lane, one per message, at once), readings as
batched telemetry.

One thread per source hands results to a queue; one deciding thread owns the
detector machines and the zone rules (no locks), and ticks every second so that
restores and communication loss are judged in time even when nothing arrives.
An event the outbox cannot store waits in memory and is stored on a later tick
(``edge.held_events``), so a failing disk delays an alarm but does not lose it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel

from edge.agent import EdgeAgent
from edge.config import FireConfig
from edge.fire.detector_state import (
    DetectorMachine,
    DetectorRules,
    Level,
    LevelChange,
    Sample,
    TroubleChange,
)
from edge.fire.zone_rule import ZoneRule
from edge.held_events import HeldEvents
from edge.outbox import Lane
from edge.remote_config import RemoteSettings
from firmware_bridge.fire import (
    DetectorResult,
    DetectorSource,
    PanelEvent,
    PanelEventKind,
    PanelSource,
)
from wire import Reading, Severity, now_us
from wire import fire as f

log = logging.getLogger(__name__)

TICK_S = 1.0
PANEL = "panel"


@dataclass(frozen=True)
class _Reconfigure:
    config: FireConfig


@dataclass
class _Panel:
    """What the panel has said is active (so a RESET can restore each of them)."""

    alarms: set[tuple[str, str]] = field(default_factory=set)  # (zone, device)
    troubles: set[tuple[str, str, f.TroubleKind]] = field(default_factory=set)


class FirePipeline:
    def __init__(
        self,
        agent: EdgeAgent,
        config: FireConfig,
        *,
        detector_sources: Iterable[DetectorSource] = (),
        panel: PanelSource | None = None,
    ) -> None:
        self.agent = agent
        self.config = config
        # An alarm the outbox cannot store (disk full or failing) waits here and is stored
        # on a later tick: the detector machines will not raise it a second time.
        self.held = HeldEvents(agent, "fire")
        self._sources = list(detector_sources)
        self._panel_source = panel
        self._queue: queue.SimpleQueue[list[DetectorResult] | PanelEvent | _Reconfigure] = (
            queue.SimpleQueue()
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._panel = _Panel()
        self.machines: dict[str, DetectorMachine] = {}
        self.zones: dict[str, ZoneRule] = {}
        self.labels = {d.id: d.label for d in config.detectors}
        self._apply_rules(config)
        agent.on_config(self._on_config)

    # -- configuration ---------------------------------------------------------------------

    def _rules_for(self, detector_id: str, config: FireConfig) -> DetectorRules:
        spec = next(d for d in config.detectors if d.id == detector_id)
        rules = spec.rules or config.defaults
        zone = next((z for z in config.zones if z.id == spec.zone), None)
        if zone is not None and zone.verify_s is not None:
            rules = rules.model_copy(
                update={"smoke": rules.smoke.model_copy(update={"verify_s": zone.verify_s})}
            )
        return rules

    def _apply_rules(self, config: FireConfig) -> None:
        for d in config.detectors:
            rules = self._rules_for(d.id, config)
            machine = self.machines.get(d.id)
            if machine is None:
                self.machines[d.id] = DetectorMachine(d.id, d.zone, rules)
            else:
                machine.rules = rules
        for z in config.zones:
            rule = self.zones.setdefault(z.id, ZoneRule(z.id))
            rule.needed = z.needed
        for d in config.detectors:
            self.zones.setdefault(d.zone, ZoneRule(d.zone))

    def _on_config(self, settings: RemoteSettings) -> None:
        if settings.fire is not None:
            # Thresholds pushed by the cloud; detectors and links stay as the box has them.
            merged = self.config.model_copy(
                update={
                    "defaults": settings.fire.defaults or self.config.defaults,
                    "zones": settings.fire.zones or self.config.zones,
                }
            )
            self._queue.put(_Reconfigure(merged))

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        now = time.monotonic()
        for machine in self.machines.values():
            machine.start(now)
        for source in self._sources:
            self._spawn(self._poll, source, name="fire-modbus")
        if self._panel_source is not None:
            self._spawn(self._read_panel, self._panel_source, name="fire-panel")
        self._spawn(self._decide, name="fire-decide")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self.held.close()
        for source in self._sources:
            source.close()
        if self._panel_source is not None:
            self._panel_source.close()

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll(self, source: DetectorSource) -> None:
        for results in source.polls(self._stop):
            self._queue.put(results)

    def _read_panel(self, panel: PanelSource) -> None:
        for event in panel.events(self._stop):
            self._queue.put(event)

    # -- deciding ------------------------------------------------------------------------------

    def _decide(self) -> None:
        next_tick = time.monotonic() + TICK_S
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                item = None
            try:
                if isinstance(item, list):
                    self.handle_results(item)
                elif isinstance(item, PanelEvent):
                    self.handle_panel(item)
                elif isinstance(item, _Reconfigure):
                    self._apply_rules(item.config)
                if time.monotonic() >= next_tick:
                    self.tick(time.monotonic())
                    next_tick = time.monotonic() + TICK_S
            except Exception:  # monitoring must outlive any one bad input
                log.exception("fire pipeline: could not handle %r", item)

    def handle_results(self, results: list[DetectorResult]) -> None:
        readings: list[Reading] = []
        at_us = now_us()
        for result in results:
            machine = self.machines.get(result.detector.detector_id)
            reading = result.reading
            if machine is None or reading is None:
                continue  # a problem: comm loss is judged by time, in tick()
            sample = Sample(
                at=result.monotonic_s,
                temperature_c=reading.temperature_c,
                obscuration_pct_m=reading.obscuration_pct_per_m,
                battery_mv=reading.battery_mv,
                alarm_bit=reading.alarm,
                fault_bit=reading.fault,
                low_battery_bit=reading.low_battery,
                dirty_chamber_bit=reading.dirty_chamber,
            )
            self._emit(machine, machine.feed(sample))
            tags = {"detector": machine.detector, "zone": machine.zone}
            readings += [
                Reading(ts=at_us, field="temperature_c", value=reading.temperature_c, tags=tags),
                Reading(
                    ts=at_us,
                    field="obscuration_pct_m",
                    value=reading.obscuration_pct_per_m,
                    tags=tags,
                ),
                Reading(ts=at_us, field="battery_mv", value=float(reading.battery_mv), tags=tags),
            ]
        if readings:
            self.agent.add_readings(readings)

    def tick(self, now: float) -> None:
        self.held.retry()
        for machine in self.machines.values():
            self._emit(machine, machine.tick(now))

    def _emit(self, machine: DetectorMachine, changes: list[LevelChange | TroubleChange]) -> None:
        for change in changes:
            if isinstance(change, TroubleChange):
                self._send_trouble(
                    machine.zone, machine.detector, change.trouble, change.active, change.detail
                )
                continue
            self._send_level(machine, change)
            confirmed = self.zones[machine.zone].update(machine.detector, change.after)
            if confirmed:
                log.warning("fire confirmed in zone %s by %s", machine.zone, ", ".join(confirmed))
                self._send(
                    f.CONFIRMED,
                    Severity.CRITICAL,
                    machine.zone,
                    f.FireConfirmed(zone=machine.zone, rule="two_detectors", detectors=confirmed),
                )

    def _send_level(self, machine: DetectorMachine, change: LevelChange) -> None:
        data = f.FireAlarm(
            zone=machine.zone,
            detector=machine.detector,
            cause=change.cause,
            value=None if change.value is None else round(change.value, 3),
            threshold=change.threshold,
            label=self.labels.get(machine.detector) or None,
            verified_s=change.verified_s,
        )
        if change.after > change.before:
            alarm = change.after is Level.ALARM
            log.warning(
                "%s %s in zone %s (%s %s)",
                "ALARM" if alarm else "pre-alarm",
                machine.detector,
                machine.zone,
                change.cause.value,
                change.value,
            )
            self._send(
                f.ALARM if alarm else f.PREALARM,
                Severity.CRITICAL if alarm else Severity.WARNING,
                machine.detector,
                data,
            )
            return
        log.info(
            "%s restored to %s in zone %s",
            machine.detector,
            change.after.name.lower(),
            machine.zone,
        )
        self._send(f.ALARM_RESTORE, Severity.INFO, machine.detector, data)
        if change.after is Level.PREALARM:
            self._send(f.PREALARM, Severity.WARNING, machine.detector, data)

    def _send_trouble(
        self, zone: str, detector: str, kind: f.TroubleKind, active: bool, detail: str | None
    ) -> None:
        data = f.FireTrouble(zone=zone, detector=detector, trouble=kind, detail=detail)
        if active:
            log.warning("trouble %s on %s in zone %s", kind.value, detector, zone)
        self._send(
            f.TROUBLE if active else f.TROUBLE_RESTORE,
            Severity.WARNING if active else Severity.INFO,
            detector,
            data,
        )

    def _send(self, type_: str, severity: Severity, source: str, data: BaseModel) -> None:
        self.held.send(
            type_,
            severity=severity,
            source=source,
            data=data.model_dump(mode="json"),
            lane=Lane.ALARM,
        )

    # -- the panel -------------------------------------------------------------------------------

    def _panel_zone(self, event: PanelEvent) -> str:
        number = str(event.zone) if event.zone is not None else ""
        mapped = self.config.panel.zones.get(number) if self.config.panel else None
        return mapped or (f"panel-z{number}" if number else PANEL)

    def handle_panel(self, event: PanelEvent) -> None:
        zone = self._panel_zone(event)
        device = str(event.device) if event.device is not None else PANEL
        label = event.label[:200] or None
        if event.kind is PanelEventKind.ALARM:
            self._panel.alarms.add((zone, device))
            self._send(
                f.ALARM,
                Severity.CRITICAL,
                device,
                f.FireAlarm(zone=zone, detector=device, cause=f.Cause.PANEL, label=label),
            )
            confirmed = self.zones.setdefault(zone, ZoneRule(zone)).update(device, Level.ALARM)
            if confirmed:
                self._send(
                    f.CONFIRMED,
                    Severity.CRITICAL,
                    zone,
                    f.FireConfirmed(zone=zone, rule="two_detectors", detectors=confirmed),
                )
        elif event.kind in (PanelEventKind.TROUBLE, PanelEventKind.SUPERVISORY):
            kind = (
                f.TroubleKind.PANEL_TROUBLE
                if event.kind is PanelEventKind.TROUBLE
                else f.TroubleKind.SUPERVISORY
            )
            self._panel.troubles.add((zone, device, kind))
            self._send_trouble(zone, device, kind, True, label)
        elif event.kind is PanelEventKind.RESTORE:
            self._panel_restore(zone, device, event.restored_kind)
        elif event.kind is PanelEventKind.RESET:
            for z, d in sorted(self._panel.alarms):
                self._panel_restore(z, d, PanelEventKind.ALARM)
            for z, d, _ in sorted(self._panel.troubles):
                self._panel_restore(z, d, PanelEventKind.TROUBLE)

    def _panel_restore(self, zone: str, device: str, what: PanelEventKind | None) -> None:
        if what in (None, PanelEventKind.ALARM) and (zone, device) in self._panel.alarms:
            self._panel.alarms.discard((zone, device))
            self.zones.setdefault(zone, ZoneRule(zone)).update(device, Level.NORMAL)
            self._send(
                f.ALARM_RESTORE,
                Severity.INFO,
                device,
                f.FireAlarm(zone=zone, detector=device, cause=f.Cause.PANEL),
            )
        for z, d, kind in sorted(self._panel.troubles):
            if (z, d) == (zone, device) and what in (
                None,
                PanelEventKind.TROUBLE,
                PanelEventKind.SUPERVISORY,
            ):
                self._panel.troubles.discard((z, d, kind))
                self._send_trouble(zone, device, kind, False, None)
