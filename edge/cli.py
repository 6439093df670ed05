"""``tianshan edge`` and ``tianshan sim``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def add_edge_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="agent config (TOML); TIANSHAN_EDGE__* variables override it",
    )
    parser.epilog = "Example config: docs/edge-agent.example.toml"
    actions = parser.add_subparsers(dest="edge_action", metavar="ACTION")
    claim = actions.add_parser(
        "claim",
        help="trade a claim token for this box's broker account; write its config",
        description="Trade the one-time claim token for this box's broker account, the "
        "broker's address and CA certificate and its first config; write DIR/edge.toml "
        "(mode 0600), then run `tianshan edge --config DIR/edge.toml`.",
    )
    claim.add_argument("--cloud", metavar="URL", help="the cloud API (or in the QR code's URI)")
    claim.add_argument(
        "--token", required=True, help="the claim token, or the QR code's tianshan-claim: URI"
    )
    claim.add_argument(
        "--dir", type=Path, default=Path("/etc/tianshan"), help="default /etc/tianshan"
    )
    claim.add_argument("--force", action="store_true", help="replace an existing edge.toml")
    return run_edge


def run_claim(args: argparse.Namespace) -> int:
    from edge.claim import ClaimError, claim

    try:
        done = claim(args.cloud, args.token, args.dir, overwrite=args.force)
    except ClaimError as exc:
        print(f"tianshan edge claim: {exc}", file=sys.stderr)
        return 1
    mqtt = done.bundle.mqtt
    print(f"claimed {done.bundle.device_id} ({done.bundle.kind} at {done.bundle.site})")
    print(f"broker: {mqtt.host}:{mqtt.port}{' (TLS)' if mqtt.tls else ''}")
    for path in done.files:
        print(f"wrote {path} (mode 0600)")
    print(f"start it: tianshan edge --config {done.config_file}")
    return 0


def run_edge(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from edge.box import start_box
    from edge.config import ConfigFileError, load_config

    if getattr(args, "edge_action", None) == "claim":
        return run_claim(args)
    if args.config is None:
        print("tianshan edge: --config FILE is required (or: tianshan edge claim)", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except (ConfigFileError, ValidationError) as exc:
        print(f"tianshan edge: bad config: {exc}", file=sys.stderr)
        return 2
    stop = _stop_on_signals()
    log.info(
        "edge agent %s (%s, site %s) starting; outbox %s",
        config.device.id,
        config.device.kind,
        config.device.site,
        config.outbox.path,
    )
    try:
        box = start_box(config)
    except (OSError, ValueError, RuntimeError) as exc:
        # No camera, an unreadable price table or model: say so, do not limp along.
        print(f"tianshan edge: cannot start: {exc}", file=sys.stderr)
        return 2
    stop.wait()
    log.info("stopping: flushing readings into the outbox")
    box.stop()
    return 0


def add_sim_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument(
        "--devices", type=int, default=4, metavar="N", help="virtual devices (default 4)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        metavar="R",
        help="readings per second per device (default 10)",
    )
    parser.add_argument(
        "--count",
        type=int,
        metavar="C",
        help="readings per device, then drain and exit (default: run until stopped)",
    )
    parser.add_argument(
        "--broker",
        type=_broker,
        metavar="HOST:PORT",
        help="broker address (default 127.0.0.1:1883, or the --config file's)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="base agent config (TOML) for broker, TLS and outbox quota; "
        "the device section is generated",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var/sim"),
        help="one outbox per device lives here (default var/sim)",
    )
    parser.add_argument("--prefix", default="sim", help="device ids are PREFIX-000, PREFIX-001, …")
    parser.add_argument(
        "--batch",
        type=int,
        default=500,
        metavar="N",
        help="readings per telemetry message (default 500; 1 = one per message)",
    )
    parser.add_argument(
        "--batch-age",
        type=float,
        default=1.0,
        metavar="S",
        help="longest a reading waits for its batch (default 1 s)",
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=10.0,
        metavar="S",
        help="heartbeat interval (default 10 s)",
    )
    parser.add_argument(
        "--events-every",
        type=float,
        metavar="S",
        help="each device also sends an event every S seconds",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="with --count: how long to wait for the outboxes to empty",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="write what each device generated and stored (JSON)",
    )
    fire = parser.add_argument_group(
        "fire detectors",
        "also serve simulated smoke/heat detectors over Modbus TCP, for a fire box to poll",
    )
    fire.add_argument(
        "--fire-port",
        type=int,
        metavar="PORT",
        help="serve the detectors on 127.0.0.1:PORT (0: a free port, logged)",
    )
    fire.add_argument(
        "--fire-units",
        type=_units,
        default=(1, 2, 3),
        metavar="U,U,…",
        help="Modbus unit ids of the detectors (default 1,2,3)",
    )
    fire.add_argument(
        "--fire-drill-every",
        type=float,
        metavar="S",
        help="every S seconds, smoke builds up at the first two units, then clears "
        "(default: no drills, the detectors read normal)",
    )
    return run_sim


def _units(value: str) -> tuple[int, ...]:
    try:
        units = tuple(int(u) for u in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected unit ids like 1,2,3, got {value!r}") from None
    if not units or not all(1 <= u <= 247 for u in units):
        raise argparse.ArgumentTypeError("Modbus unit ids are 1..247")
    return units


def run_sim(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from edge.config import AgentConfig, ConfigFileError, IdentityConfig, MqttConfig, load_config
    from edge.sim import Fleet, SimSettings

    if args.devices < 1 or args.rate <= 0:
        print("tianshan sim: --devices must be ≥ 1 and --rate > 0", file=sys.stderr)
        return 2
    try:
        base = (
            load_config(args.config, device={"id": f"{args.prefix}-000"})
            if args.config
            else AgentConfig(device=IdentityConfig(id=f"{args.prefix}-000"))
        )
        if args.broker:
            host, port = args.broker
            base = base.model_copy(
                update={
                    "mqtt": MqttConfig.model_validate(
                        base.mqtt.model_dump() | {"host": host, "port": port}
                    )
                }
            )
        settings = SimSettings(
            devices=args.devices,
            rate=args.rate,
            count=args.count,
            prefix=args.prefix,
            data_dir=args.data_dir,
            batch_readings=args.batch,
            batch_age_s=args.batch_age,
            heartbeat_s=args.heartbeat,
            events_every_s=args.events_every,
            base=base,
        )
        fleet = Fleet(settings)
    except (ConfigFileError, ValidationError, ValueError) as exc:
        print(f"tianshan sim: {exc}", file=sys.stderr)
        return 2
    stop = _stop_on_signals()

    def stop_when_signalled() -> None:
        stop.wait()
        fleet.request_stop()

    threading.Thread(target=stop_when_signalled, daemon=True).start()
    try:
        detectors = _start_detectors(args)
    except (OSError, ValueError) as exc:
        print(f"tianshan sim: fire detectors: {exc}", file=sys.stderr)
        return 2
    log.info(
        "sim: %d devices x %g readings/s to %s:%d%s",
        args.devices,
        args.rate,
        base.mqtt.host,
        base.mqtt.port,
        f", {args.count} readings each" if args.count else "",
    )
    fleet.start()
    fleet.run()
    drained = True
    if args.count is not None and not stop.is_set():
        log.info("sim: all readings generated; waiting for the outboxes to drain")
        drained = fleet.drain(args.drain_timeout)
        if not drained:
            log.error("sim: outboxes not empty after %.0f s", args.drain_timeout)
    summary = fleet.summary()
    fleet.stop()
    if detectors is not None:
        detectors.stop()
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=1))
    return 0 if drained else 1


class _Detectors:
    """The simulated detectors and their drill, stopped together."""

    def __init__(self, args: argparse.Namespace) -> None:
        from firmware_bridge.fire.drill import FireDrill
        from firmware_bridge.fire.sim import DetectorSimulator

        self.sim = DetectorSimulator(args.fire_units, seed=7)
        self.drill: FireDrill | None = None
        if args.fire_drill_every is not None:
            if len(args.fire_units) < 2:
                raise ValueError("a drill needs at least two units (--fire-units)")
            first, second = args.fire_units[:2]
            self.drill = FireDrill(self.sim, units=(first, second), every_s=args.fire_drill_every)
        port = self.sim.start_tcp(port=args.fire_port)
        log.info(
            "sim: detectors %s on modbus tcp 127.0.0.1:%d%s",
            ",".join(map(str, args.fire_units)),
            port,
            f", a drill every {args.fire_drill_every:g} s" if self.drill else "",
        )
        if self.drill is not None:
            self.drill.start()

    def stop(self) -> None:
        if self.drill is not None:
            self.drill.stop()
        self.sim.stop()


def _start_detectors(args: argparse.Namespace) -> _Detectors | None:
    return None if args.fire_port is None else _Detectors(args)
