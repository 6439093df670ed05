"""``tianshan demo``: the whole platform on this machine, stopped cleanly by Ctrl-C.

Mosquitto and influxd with the project's configs, the cloud API, one ingest worker,
a simulated fleet (with simulated fire detectors running a drill every few minutes), a
canteen checkout box replaying a recorded tray slot, a fire box polling the
detectors and a parking box replaying an hour of Bluetooth studs; each a process of
its own with its log in ``DATA_DIR/logs``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from cloud.storage.sql import make_engine, writer_factory
from cloud.storage.tokens import Role, create_token
from tianshan.demo_boxes import KIOSK_PIN, SITE_MAP, write_box_configs
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import ManagedProcess, ServerError, free_port, port_is_free

log = logging.getLogger(__name__)

DEMO_INFLUX_USER = "tianshan"
DEMO_INFLUX_PASSWORD = "tianshan-demo"  # noqa: S105 (local demo only; refused in production)


def add_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var/demo"),
        help="broker, databases, outboxes and logs (default var/demo)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8000,
        help="HTTP port of the cloud (default 8000, or a free one if taken)",
    )
    parser.add_argument("--devices", type=int, default=12, help="simulated devices (default 12)")
    parser.add_argument(
        "--rate",
        type=float,
        default=4.0,
        help="readings per second per simulated device (default 4)",
    )
    parser.add_argument(
        "--drill-every",
        type=float,
        default=300.0,
        metavar="S",
        help="a fire drill in Lane 800 every S seconds (default 300; the first after 30 s)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="start from empty databases (deletes DATA_DIR first)"
    )
    return run


def demo_tokens(data: Path, sql_url: str) -> dict[str, str]:
    """The demo's API tokens, made once and kept (mode 0600) for the next run."""
    path = data / "tokens.json"
    try:
        saved: dict[str, str] = json.loads(path.read_text())
        if {"operator", "fire_team", "viewer"} <= set(saved):
            return saved
    except (OSError, ValueError):
        pass
    engine = make_engine(sql_url)
    made = {}
    with writer_factory(engine).begin() as session:
        for role in (Role.OPERATOR, Role.FIRE_TEAM, Role.VIEWER):
            made[role.value] = create_token(
                session, name=f"demo {role.value}", role=role, created_by="demo"
            )[1]
    engine.dispose()
    path.write_text(json.dumps(made))
    path.chmod(0o600)
    return made


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def run(args: argparse.Namespace) -> int:
    data = args.data_dir.resolve()
    if args.fresh and data.exists():
        shutil.rmtree(data)
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    http_port = _port(args.port)
    mqtt_port = _port(18830)
    influx_port = _port(18086)
    modbus_port = _port(15020)
    kiosk_port = _port(8081)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    sql_url = f"sqlite:///{data}/cloud.sqlite"
    tokens = demo_tokens(data, sql_url)
    broker = MosquittoServer(data / "mosquitto", port=mqtt_port)
    influx = InfluxServer(
        data / "influxdb",
        port=influx_port,
        auth=True,
        username=DEMO_INFLUX_USER,
        password=DEMO_INFLUX_PASSWORD,
    )
    env = os.environ | {
        "TIANSHAN_CLOUD__ENVIRONMENT": "demo",
        "TIANSHAN_CLOUD__HTTP__PORT": str(http_port),
        "TIANSHAN_CLOUD__BROKER__PORT": str(mqtt_port),
        "TIANSHAN_CLOUD__INFLUX__URL": f"http://127.0.0.1:{influx_port}",
        "TIANSHAN_CLOUD__INFLUX__USERNAME": DEMO_INFLUX_USER,
        "TIANSHAN_CLOUD__INFLUX__PASSWORD": DEMO_INFLUX_PASSWORD,
        "TIANSHAN_CLOUD__SQL__URL": sql_url,
        "TIANSHAN_CLOUD__SITE_MAP": str(SITE_MAP),
    }
    services = _processes(
        args, data, env, mqtt_port=mqtt_port, modbus_port=modbus_port, kiosk_port=kiosk_port
    )
    started: list[Callable[[], object]] = []
    try:
        _say(f"starting Mosquitto on 127.0.0.1:{mqtt_port}")
        broker.start()
        started.append(broker.stop)
        _say(f"starting InfluxDB 1.x on 127.0.0.1:{influx_port}")
        influx.start()
        started.append(influx.stop)
        for service in services:
            _say(f"starting {service.name} (log: {service.log_path})")
            service.start()
            started.append(service.stop)
        url = f"http://127.0.0.1:{http_port}"
        services[0].wait_ready(lambda: _ready(url), timeout=60)
        _banner(url, tokens, args, mqtt_port=mqtt_port, kiosk_port=kiosk_port, logs=logs)
        while not stop.wait(1.0):
            dead = [s for s in services if not s.running]
            if dead:
                for s in dead:
                    _say(f"{s.name} exited unexpectedly; last lines of {s.log_path}:\n{s.tail()}")
                return 1
        _say("stopping…")
        return 0
    except (ServerError, TimeoutError, FileNotFoundError) as exc:
        _say(f"demo could not start: {exc}")
        return 1
    finally:
        for stop_one in reversed(started):
            stop_one()
        _say("stopped")


def _banner(
    url: str,
    tokens: dict[str, str],
    args: argparse.Namespace,
    *,
    mqtt_port: int,
    kiosk_port: int,
    logs: Path,
) -> None:
    _say("")
    _say(f"  Tianshan is running: open {url}/#token={tokens['operator']}")
    _say(f"  canteen checkout:  {url}/checkout#token={tokens['viewer']}")
    _say(f"  fire console:      {url}/console#token={tokens['fire_team']}")
    _say(
        f"  checkout kiosk:    http://127.0.0.1:{kiosk_port}/ (the box's own page; "
        f"staff PIN {KIOSK_PIN})"
    )
    _say(f"  bike parking:      {url}/parking#token={tokens['operator']}")
    _say(f"  API docs: {url}/docs (tokens in {logs.parent / 'tokens.json'})")
    _say(f"  {args.devices} simulated devices publish to mqtt://127.0.0.1:{mqtt_port}")
    _say(f"  a fire drill in Lane 800 every {args.drill_every:g} s (first after 30 s)")
    _say(f"  logs in {logs}; press Ctrl-C to stop everything")
    _say("")


def _processes(
    args: argparse.Namespace,
    data: Path,
    env: dict[str, str],
    *,
    mqtt_port: int,
    modbus_port: int,
    kiosk_port: int,
) -> list[ManagedProcess]:
    """The cloud first (the banner waits for it), then the fleet and the two boxes."""
    logs = data / "logs"
    _say("preparing the demo boxes (the first run records a tray slot: a few seconds)")
    boxes = write_box_configs(
        data, mqtt_port=mqtt_port, modbus_port=modbus_port, kiosk_port=kiosk_port
    )
    me = [sys.executable, "-m", "tianshan", "--log-level", "INFO"]
    return [
        ManagedProcess("cloud", [*me, "cloud"], log_path=logs / "cloud.log", env=env),
        ManagedProcess(
            "ingest", [*me, "ingest", "--name", "demo-1"], log_path=logs / "ingest.log", env=env
        ),
        ManagedProcess(
            "sim",
            [
                *me,
                "sim",
                "--devices",
                str(args.devices),
                "--rate",
                str(args.rate),
                "--broker",
                f"127.0.0.1:{mqtt_port}",
                "--data-dir",
                str(data / "sim"),
                "--prefix",
                "canteen",
                "--events-every",
                "45",
                "--batch-age",
                "0.5",
                "--fire-port",
                str(modbus_port),
                "--fire-drill-every",
                str(args.drill_every),
            ],
            log_path=logs / "sim.log",
            env=env,
        ),
        ManagedProcess(
            "checkout-box",
            [*me, "edge", "--config", str(boxes.checkout_config)],
            log_path=logs / "checkout-box.log",
            env=env,
        ),
        ManagedProcess(
            "fire-box",
            [*me, "edge", "--config", str(boxes.fire_config)],
            log_path=logs / "fire-box.log",
            env=env,
        ),
        ManagedProcess(
            "parking-box",
            [*me, "edge", "--config", str(boxes.parking_config)],
            log_path=logs / "parking-box.log",
            env=env,
        ),
    ]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}" if message else "", flush=True)
