"""Fixtures for the secured platform: Mosquitto with the dynamic security plugin (no
anonymous access) and a TLS listener for boxes signed by the project's CA, and cloud
settings that log the API in as the plugin's admin and the ingest as its own account.

A test module opts in by importing ``broker`` and ``cloud_settings`` from here: they
replace the open ones of conftest, and every fixture built on them (``ingest``,
``api``, ``tokens``) then runs secured.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.config import CloudSettings
from provisioning.pki import Issued, create_ca, server_cert
from tests.helpers import settings_for_test
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import DynsecSetup, MosquittoServer, TlsListener
from tianshan.servers.process import free_port

ADMIN = "tianshan-admin"
INGEST = "tianshan-ingest"


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Issued, Issued]:
    """(the project's CA, the broker's certificate for 127.0.0.1 and localhost)."""
    ca = create_ca(tmp_path / "pki", name="Tianshan Test CA")
    return ca, server_cert(ca, tmp_path / "pki", hosts=["127.0.0.1", "localhost"])


@pytest.fixture
def dynsec_setup() -> DynsecSetup:
    return DynsecSetup(
        admin_username=ADMIN,
        admin_password=secrets.token_urlsafe(16),
        ingest_username=INGEST,
        ingest_password=secrets.token_urlsafe(16),
    )


@pytest.fixture
def broker(
    tmp_path: Path, pki: tuple[Issued, Issued], dynsec_setup: DynsecSetup
) -> Iterator[MosquittoServer]:
    """Services on the plain loopback listener, boxes on the TLS one; everyone logs in."""
    ca, server = pki
    tls = TlsListener(free_port(), ca.cert, server.cert, server.key)
    broker = MosquittoServer(tmp_path / "mosquitto", dynsec=dynsec_setup, tls=tls).start()
    yield broker
    broker.stop()


@pytest.fixture
def cloud_settings(
    tmp_path: Path,
    broker: MosquittoServer,
    influx: InfluxServer,
    dynsec_setup: DynsecSetup,
    pki: tuple[Issued, Issued],
) -> CloudSettings:
    assert broker.tls is not None
    return settings_for_test(
        tmp_path,
        influx,
        broker={
            "port": broker.port,
            "username": dynsec_setup.ingest_username,
            "password": dynsec_setup.ingest_password,
        },
        dynsec={
            "admin_username": dynsec_setup.admin_username,
            "admin_password": dynsec_setup.admin_password,
        },
        provisioning={
            "device_broker_host": "127.0.0.1",
            "device_broker_port": broker.tls.port,
            "device_ca_file": pki[0].cert,
        },
    )
