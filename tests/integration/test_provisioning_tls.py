"""TLS for boxes with the project's own CA (made by ``tianshan provision``): a claimed
box connects with it, a box trusting another CA does not, and a listener that demands
client certificates takes a box that has one and refuses one that has not."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.dynsec.control import admin_session
from cloud.dynsec.policy import provision_device
from edge.agent import EdgeAgent
from edge.claim import claim
from edge.config import load_config
from tests.conftest import Service
from tests.integration.test_provisioning import provision_box
from tests.secure_stack import broker, cloud_settings, dynsec_setup, pki  # noqa: F401
from tianshan.servers.mosquitto import DynsecSetup, MosquittoServer, TlsListener
from tianshan.servers.process import free_port, wait_until

pytestmark = pytest.mark.integration


def provision(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tianshan", "provision", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# paho leaves the socket of a failed TLS handshake to the garbage collector (its leak,
# not ours), and only a refused handshake provokes it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_box_trusting_the_project_ca_connects_and_one_trusting_another_does_not(
    tmp_path: Path, api: Service, caplog: pytest.LogCaptureFixture
) -> None:
    box_id, token = provision_box(api, tmp_path, kind="fire", site="lane-800")
    claimed = claim(api.base_url, token, tmp_path / box_id)
    good = EdgeAgent(load_config(claimed.config_file))
    good.start()
    try:
        assert good.transport.wait_connected(15)
    finally:
        good.stop()

    provision("ca", "--dir", str(tmp_path / "other"), "--name", "Some Other CA")
    wrong = load_config(
        claimed.config_file, mqtt=load_config(claimed.config_file).mqtt.model_dump()
        | {"tls": {"ca_file": tmp_path / "other" / "ca.pem"}},
    )  # fmt: skip
    bad = EdgeAgent(wrong)
    bad.start()
    try:
        assert not bad.transport.wait_connected(3)
    finally:
        bad.stop()
    assert "certificate verify failed" in caplog.text


@pytest.fixture
def mutual_tls_broker(tmp_path: Path) -> Iterator[tuple[MosquittoServer, DynsecSetup, Path]]:
    """A broker whose TLS listener demands a client certificate signed by the CA made by
    ``tianshan provision ca``; the certificates are the CLI's too."""
    folder = tmp_path / "mtls"
    provision("ca", "--dir", str(folder))
    provision("server-cert", "--dir", str(folder), "--host", "127.0.0.1", "--host", "localhost")
    setup = DynsecSetup(admin_username="admin", admin_password=secrets.token_urlsafe(12))
    tls = TlsListener(
        free_port(),
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        require_certificate=True,
    )
    server = MosquittoServer(tmp_path / "mosquitto-mtls", dynsec=setup, tls=tls).start()
    yield server, setup, folder
    server.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_mutual_tls_takes_a_box_with_a_client_certificate_only(
    tmp_path: Path, mutual_tls_broker: tuple[MosquittoServer, DynsecSetup, Path]
) -> None:
    server, setup, folder = mutual_tls_broker
    assert server.tls is not None
    tls_port = server.tls.port
    password = secrets.token_urlsafe(16)
    with admin_session(
        "127.0.0.1", server.port, username=setup.admin_username, password=setup.admin_password
    ) as control:
        provision_device(control, device_id="box-m", password=password)
    out = provision("client-cert", "--dir", str(folder), "--device", "box-m")
    assert "mode 0600" in out
    assert (folder / "box-m.key").stat().st_mode & 0o777 == 0o600

    def connect(with_cert: bool) -> str:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="box-m", protocol=mqtt.MQTTv5)
        client.username_pw_set("box-m", password)
        if with_cert:
            client.tls_set(
                ca_certs=str(folder / "ca.pem"),
                certfile=str(folder / "box-m.pem"),
                keyfile=str(folder / "box-m.key"),
            )
        else:
            client.tls_set(ca_certs=str(folder / "ca.pem"))
        answers: list[str] = []
        client.on_connect = lambda c, u, f, rc, p: answers.append(rc.getName())
        client.on_disconnect = lambda c, u, f, rc, p: answers.append(f"dropped: {rc.getName()}")
        try:
            client.connect("127.0.0.1", tls_port)
        except OSError as exc:  # the handshake itself was refused
            return f"refused: {exc}"
        client.loop_start()
        try:
            wait_until(lambda: bool(answers), timeout=5, what="a CONNACK")
        except TimeoutError:
            return "no CONNACK"
        finally:
            client.disconnect()
            client.loop_stop()
        return answers[0]

    assert connect(with_cert=True) == "Success"
    without = connect(with_cert=False)
    assert without.startswith(("refused", "dropped"))
