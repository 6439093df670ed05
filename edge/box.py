"""A box: the agent plus the pipelines its config turns on (checkout, fire, parking)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.agent import EdgeAgent
from edge.config import AgentConfig
from wire import Severity
from wire.checkout import MODEL_CHECK, MODEL_CHECK_DETAIL_CHARS, ModelCheck

if TYPE_CHECKING:
    from models.traycolour.runtime import TrayRecognizer

log = logging.getLogger(__name__)


@dataclass
class Box:
    agent: EdgeAgent
    parts: list[object] = field(default_factory=list)

    def stop(self) -> None:
        for part in reversed(self.parts):
            stop = getattr(part, "stop", None)
            if stop is not None:
                stop()
        self.agent.stop()


def missing_pipeline(config: AgentConfig) -> str | None:
    """What to tell the operator when the box's kind names a pipeline whose section the
    config lacks (a checkout box without ``[checkout]`` runs no checkout); None when not."""
    kind = config.device.kind
    if kind in ("checkout", "fire", "parking") and getattr(config, kind) is None:
        return (
            f"device kind is {kind!r} but the config has no [{kind}] section: "
            f"no {kind} pipeline runs (see docs/edge-agent.example.toml)"
        )
    return None


def start_box(config: AgentConfig) -> Box:
    """Start the agent, then each pipeline the config names. Raises on a pipeline that
    cannot start (no camera, no model): a box must not run half-configured."""
    missing = missing_pipeline(config)
    if missing:
        log.warning("%s", missing)
    agent = EdgeAgent(config)
    box = Box(agent)
    if config.checkout is not None:
        from edge.checkout.frames import open_source
        from edge.checkout.kiosk import KioskServer
        from edge.checkout.pipeline import CheckoutPipeline
        from edge.checkout.prices import load_price_table
        from models.traycolour.runtime import TrayRecognizer

        cfg = config.checkout
        prices = load_price_table(cfg.prices_file) if cfg.prices_file else None
        recognizer = TrayRecognizer(cfg.model_path)
        _report_self_test(agent, recognizer)
        pipeline = CheckoutPipeline(
            agent,
            cfg,
            source=open_source(cfg.source, fps=cfg.fps, loop=cfg.loop),
            recognizer=recognizer,
            prices=prices,
            state_dir=config.state_dir,
        )
        box.parts.append(pipeline)
        if cfg.kiosk_port:
            pin = cfg.pin()
            if pin is None:
                log.warning(
                    "checkout: no staff PIN (checkout.staff_pin): anyone at the kiosk screen "
                    "can correct a bill or settle a menu order"
                )
            kiosk = KioskServer(pipeline, host=cfg.kiosk_host, port=cfg.kiosk_port, staff_pin=pin)
            box.parts.append(kiosk)
    if config.fire is not None:
        box.parts.append(_fire_pipeline(agent, config))
    if config.parking is not None:
        from edge.parking.pipeline import ParkingPipeline, open_parking_source

        source, speed, start_at = open_parking_source(config.parking)
        box.parts.append(
            ParkingPipeline(agent, config.parking, source=source, speed=speed, start_at=start_at)
        )
    agent.start()
    for part in box.parts:
        part.start()  # type: ignore[attr-defined]
    return box


def _report_self_test(agent: EdgeAgent, recognizer: TrayRecognizer) -> None:
    """Log how the model's self-test went on this CPU and tell the cloud (a failed one
    opens a supervision alert there: every tray of this box goes to staff until the
    model or the box is replaced; a passed one clears it)."""
    test = recognizer.self_test
    if test.failed:
        log.error(
            "checkout: model %s failed its self-test on this CPU (%s): every tray goes to staff",
            recognizer.model_version,
            test.detail,
        )
    else:
        log.info(
            "checkout: model %s self-test %s: %s", recognizer.model_version, test.state, test.detail
        )
    check = ModelCheck(
        site=agent.config.device.site,
        model_version=recognizer.model_version,
        result="not_run" if test.state == "not run" else test.state,
        detail=test.detail[:MODEL_CHECK_DETAIL_CHARS],
    )
    agent.send_event(
        MODEL_CHECK,
        severity=Severity.WARNING if test.failed else Severity.INFO,
        data=check.model_dump(mode="json"),
    )


def _fire_pipeline(agent: EdgeAgent, config: AgentConfig) -> object:
    from edge.fire.pipeline import FirePipeline
    from firmware_bridge.fire import (
        Detector,
        ModbusDetectorSource,
        ModbusRtuLink,
        ModbusTcpLink,
        PanelPortSettings,
        SerialPanelSource,
    )

    fire = config.fire
    assert fire is not None
    sources = []
    for link in fire.links:
        detectors = [Detector(d.id, d.unit) for d in fire.detectors if d.link == link.name]
        if not detectors:
            continue
        transport = (
            ModbusTcpLink(link.host, link.port)
            if link.kind == "tcp"
            else ModbusRtuLink(link.serial_port or "", baudrate=link.baudrate, parity=link.parity)
        )
        sources.append(
            ModbusDetectorSource(
                transport,
                detectors,
                poll_interval_s=link.poll_interval_s,
                timeout_s=link.timeout_s,
                name=link.name,
            )
        )
    panel = None
    if fire.panel is not None:
        panel = SerialPanelSource(
            PanelPortSettings(
                url=fire.panel.url, baudrate=fire.panel.baudrate, encoding=fire.panel.encoding
            )
        )
    return FirePipeline(agent, fire, detector_sources=sources, panel=panel)
