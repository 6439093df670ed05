"""The ``tianshan`` command: help that helps, clear errors, and the demo start to finish."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tianshan.servers.process import free_port, wait_until

TIANSHAN = [sys.executable, "-m", "tianshan"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TIANSHAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ((), ["demo", "cloud", "ingest", "edge", "sim"]),
        (("demo",), ["--data-dir", "--devices"]),
        (("cloud",), ["--config", "--port"]),
        (("ingest",), ["--name", "--metrics-port"]),
        (("edge",), ["--config"]),
        (("sim",), ["--devices", "--rate", "--count", "--broker"]),
    ],
)
def test_every_command_has_help(command: tuple[str, ...], mentions: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    for word in mentions:
        assert word in result.stdout


def test_edge_config_errors_are_clear(tmp_path: Path) -> None:
    missing = run("edge", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "cannot read config file" in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[device]\nid = "a b"\n[mqtt]\nport = "many"\n')
    wrong = run("edge", "--config", str(bad))
    assert wrong.returncode == 2
    assert "device.id" in wrong.stderr
    assert "mqtt.port" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_cloud_and_sim_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "cloud.toml"
    bad.write_text("[influx]\npassword = 'changeme'\n")
    result = run("cloud", "--config", str(bad))
    assert result.returncode == 2
    assert "well-known default" in result.stderr
    result = run("sim", "--devices", "0")
    assert result.returncode == 2
    assert "--devices" in result.stderr
    result = run("sim", "--broker", "nohostport")
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr


def _our_servers(data_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # The cloud and the ingest get their folder through the environment.
            seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(data_dir).encode() in seen:
            pids.append(int(proc.name))
    return pids


@pytest.mark.integration
@pytest.mark.slow
def test_demo_runs_the_platform_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    port = free_port()
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                *TIANSHAN,
                "demo",
                "--data-dir",
                str(data),
                "--port",
                str(port),
                "--devices",
                "3",
                "--rate",
                "5",
                "--drill-every",
                "140",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: "Tianshan is running" in out.read_text(), timeout=90, what="the demo banner"
        )
        token = re.search(rf"open {re.escape(base)}/#token=(tsn_\S+)", out.read_text())
        assert token, out.read_text()
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token.group(1)}"})
        assert httpx.get(f"{base}/api/v1/devices").status_code == 401  # no token, no data
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert "Tianshan" in httpx.get(f"{base}/").text
        wait_until(
            lambda: (
                {d["device_id"] for d in api.get("/api/v1/devices").json()}
                >= {"canteen-000", "canteen-002", "canteen-checkout-1", "fire-lane800"}
            ),
            timeout=60,
            what="three simulated devices, the checkout box and the fire box",
        )
        wait_until(
            lambda: any(
                s["points"]
                for s in api.get(
                    "/api/v1/telemetry", params={"field": "temperature", "window": "5s"}
                ).json()["series"]
            ),
            timeout=60,
            what="telemetry through the whole chain",
        )
        # The checkout box bills the recorded trays; its kiosk page is up.
        wait_until(
            lambda: api.get("/api/v1/checkout/transactions").json(),
            timeout=90,
            what="a checkout transaction from the demo's checkout box",
        )
        kiosk = re.search(r"checkout kiosk: +(http://\S+)", out.read_text())
        assert kiosk, out.read_text()
        assert httpx.get(f"{kiosk.group(1)}api/state").status_code == 200
        # The first drill (30 s after the sim starts) raises a fire alarm from the fire box.
        wait_until(
            lambda: any(
                a["box_id"] == "fire-lane800"
                and a["type"] == "fire.alarm"
                and a["zone"] == "L800-1-3F"
                for a in api.get("/api/v1/alerts").json()
            ),
            timeout=120,
            what="the drill's fire alarm on the alert list",
        )
        # The parking box's replay reports the towers' six bays.
        wait_until(
            lambda: len(api.get("/api/v1/parking/bays").json()) == 6,
            timeout=60,
            what="the six bays of the parking replay",
        )
        api.close()
        # demo, broker, influxd, cloud, ingest, sim, checkout, fire and parking boxes
        assert len(_our_servers(data)) == 9
    finally:
        os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends
        code = proc.wait(60)
    output = out.read_text()
    assert code == 0, output
    assert "stopped" in output
    wait_until(lambda: not _our_servers(data), timeout=10, what="every child to exit")
