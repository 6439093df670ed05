"""The Docker deployment files agree with the code (no Docker engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from cloud.config import load_settings
from tianshan.servers.mosquitto import BROKER_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def test_the_docker_broker_config_carries_every_setting_we_rely_on() -> None:
    lines = {
        tuple(line.split(maxsplit=1))
        for line in (DOCKER / "mosquitto" / "mosquitto.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for key, value in BROKER_SETTINGS.items():
        assert (key, value) in lines, f"docker/mosquitto/mosquitto.conf lacks '{key} {value}'"


def compose() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return data


def test_compose_has_the_platform() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"mosquitto", "influxdb", "cloud", "ingest", "edge-sim"}
    assert services["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services["influxdb"]["image"] == "influxdb:2.7"
    init = services["influxdb"]["environment"]
    for key in ("MODE", "USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"):
        assert f"DOCKER_INFLUXDB_INIT_{key}" in init
    assert (
        init["DOCKER_INFLUXDB_INIT_BUCKET"]
        == services["cloud"]["environment"]["TIANSHAN_CLOUD__INFLUX__DATABASE"]
    )


def test_compose_environment_is_valid_cloud_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose()["services"]["cloud"]["environment"]  # type: ignore[index]
    for key, value in env.items():
        # ${VAR:?msg} → a stand-in secret that is not a known default.
        monkeypatch.setenv(key, re.sub(r"\$\{[^}]+\}", "s3cret-from-the-environment", str(value)))
    settings = load_settings()
    assert settings.environment == "production"
    assert settings.influx.token is not None
    assert settings.influx.create_database is False
    assert settings.broker.host == "mosquitto"


def test_dockerfiles_copy_every_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    for dockerfile in ("Dockerfile.cloud", "Dockerfile.edge"):
        text = (DOCKER / dockerfile).read_text()
        for package in packages:
            assert f"COPY {package} ./{package}" in text, f"{dockerfile} misses {package}/"


def test_the_installed_package_carries_the_model_pair_and_loads_it(tmp_path: Path) -> None:
    # The images install the project with `pip install .`, not from the work tree: the pair,
    # its checksum files and its self-test must be in the wheel, or the checkout box stops
    # at "cannot read its checksum file" (the checksums were missing until 2026-12-07).
    # Built from a copy of the tracked files: setuptools would reuse a stale build/ folder of
    # the work tree, and untracked files are not what a clone ships.
    source = tmp_path / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("tianshan-*.whl")
    installed = tmp_path / "installed"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(installed)
    script = (
        "from models.traycolour.runtime import TrayRecognizer\n"
        "r = TrayRecognizer()\n"
        "print(r.model_files[0], r.self_test.state)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(installed)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded, state = done.stdout.split()
    assert Path(loaded).is_relative_to(installed)
    assert state == "passed"
    assert (installed / "edge" / "checkout" / "kiosk.html").exists()
