"""The Docker deployment files agree with the code (no Docker engine needed)."""

from __future__ import annotations

import re
import tomllib
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
