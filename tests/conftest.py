"""Fixtures: real servers on free ports in each test's own folder."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cloud.config import CloudSettings
from cloud.ingest.worker import IngestWorker
from cloud.storage.sql import make_engine, session_factory
from cloud.storage.tokens import Role, create_token
from edge.config import AgentConfig, load_config
from tests.helpers import settings_env, settings_for_test
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.postgres import PostgresServer
from tianshan.servers.process import ManagedProcess

PYTHON = [sys.executable, "-m", "tianshan", "--log-level", "INFO"]
STATION = "st-lane800"  # the station the station token acts for


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    server = MosquittoServer(tmp_path / "mosquitto").start()
    yield server
    server.stop()


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[InfluxServer]:
    """influxd with authentication on: every test exercises the credentials path."""
    server = InfluxServer(tmp_path / "influxdb", auth=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.stop()


@pytest.fixture
def cloud_settings(tmp_path: Path, broker: MosquittoServer, influx: InfluxServer) -> CloudSettings:
    return settings_for_test(tmp_path, influx, broker={"port": broker.port})


@pytest.fixture
def ingest(cloud_settings: CloudSettings) -> Iterator[IngestWorker]:
    """An ingest worker in this process (its metrics and engine are inspectable)."""
    worker = IngestWorker(cloud_settings)
    worker.start()
    assert worker.wait_connected(10), "ingest did not connect to the broker"
    yield worker
    worker.stop()


class Service(ManagedProcess):
    """A ``tianshan`` subcommand running as its own process."""

    base_url: str = ""
    tokens: dict[str, str] = {}  # noqa: RUF012 (set per instance by the api fixture)

    def client(self, role: str = "viewer", **kwargs: object) -> httpx.Client:
        """An HTTP client of the API, authenticated with a token of ``role``."""
        headers: dict[str, str] = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        extra = kwargs.pop("headers", None)
        if isinstance(extra, dict):
            headers |= extra
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start ``tianshan ARGS…`` as a process; stopped at the end of the test."""
    started: list[Service] = []

    def start(name: str, *args: str, env: dict[str, str] | None = None) -> Service:
        service = Service(
            name,
            [*PYTHON, *args],
            log_path=tmp_path / "logs" / f"{name}.log",
            env=os.environ | (env or {}),
        )
        service.start()
        started.append(service)
        return service

    yield start
    for service in reversed(started):
        service.stop()


@pytest.fixture
def tokens(cloud_settings: CloudSettings) -> dict[str, str]:
    """One API token per role (station: for :data:`STATION`), in the cloud's SQL."""
    engine = make_engine(cloud_settings.sql.url)
    made = {}
    with session_factory(engine).begin() as session:
        for role in Role:
            station = STATION if role is Role.STATION else None
            made[role.value] = create_token(
                session, name=f"test-{role.value}", role=role, station_id=station
            )[1]
    engine.dispose()
    return made


def start_api(
    spawn: Callable[..., Service], settings: CloudSettings, tokens: dict[str, str]
) -> Service:
    """``tianshan cloud`` with ``settings``, ready when /readyz says so."""
    service = spawn("cloud", "cloud", env=settings_env(settings))
    service.base_url = f"http://127.0.0.1:{settings.http.port}"
    service.tokens = tokens

    def ready() -> bool:
        try:
            return httpx.get(f"{service.base_url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    service.wait_ready(ready, timeout=30)
    return service


@pytest.fixture
def api(
    cloud_settings: CloudSettings, spawn: Callable[..., Service], tokens: dict[str, str]
) -> Service:
    """``tianshan cloud`` as a real HTTP server."""
    return start_api(spawn, cloud_settings, tokens)


@pytest.fixture
def edge_config(tmp_path: Path, broker: MosquittoServer) -> Callable[..., AgentConfig]:
    def make(device_id: str = "box-1", **overrides: object) -> AgentConfig:
        base: dict[str, object] = {
            "device": {"id": device_id},
            "mqtt": {"port": broker.port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
            "outbox": {"path": tmp_path / device_id / "outbox.sqlite"},
            "state_dir": tmp_path / device_id,
            "telemetry": {"max_readings": 100, "max_age_s": 0.1},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = base[key] | value  # type: ignore[operator]
            else:
                base[key] = value
        return load_config(None, **base)

    return make
