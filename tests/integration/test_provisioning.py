"""Provisioning against the secured platform: Mosquitto with the dynamic security
plugin (started by the fixtures), the API as a process, the ingest, real edge agents.

A box is registered with ``tianshan provision box``, claims with ``tianshan edge
claim``, connects over TLS with the account it was given and publishes; its neighbour
can neither publish as it nor read its config; claim tokens work once and expire;
a revoked box is dropped and stays out; pushed configs show up, or show drift.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import update

from cloud.config import CloudSettings
from cloud.ingest.worker import IngestWorker
from cloud.storage.sql import make_engine, writer_factory
from cloud.storage.tables import ClaimToken, EventRecord, RejectedMessage
from edge.agent import EdgeAgent
from edge.claim import ClaimError, claim
from edge.config import load_config
from edge.outbox import Lane
from tests.conftest import Service
from tests.helpers import look
from tests.secure_stack import broker, cloud_settings, dynsec_setup, pki  # noqa: F401
from tianshan.servers.mosquitto import DynsecSetup, MosquittoServer
from tianshan.servers.process import wait_until
from wire import Channel, Event, encode, new_message_id, now_us
from wire.topics import device_topic

pytestmark = pytest.mark.integration

TIANSHAN = [sys.executable, "-m", "tianshan", "--log-level", "WARNING"]


def tianshan(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | ({"TIANSHAN_API_TOKEN": token} if token else {})
    return subprocess.run(
        [*TIANSHAN, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def provision_box(api: Service, tmp_path: Path, *, kind: str, site: str) -> tuple[str, str]:
    """``tianshan provision box``; (device id, claim token) read from what it prints."""
    png = tmp_path / f"qr-{kind}-{site}.png"
    done = tianshan(
        "provision", "box", "--site", site, "--kind", kind, "--cloud", api.base_url,
        "--qr-png", str(png), token=api.tokens["operator"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    device = re.search(r"^device:\s+(\S+)$", done.stdout, re.M)
    token = re.search(r"^claim token:\s+(tsc_\S+)$", done.stdout, re.M)
    assert device, done.stdout
    assert token, done.stdout
    assert "█" in done.stdout  # the QR code, for the terminal
    assert png.read_bytes().startswith(b"\x89PNG")
    assert png.stat().st_mode & 0o777 == 0o600
    return device.group(1), token.group(1)


@pytest.fixture
def agents() -> Iterator[list[EdgeAgent]]:
    started: list[EdgeAgent] = []
    yield started
    for agent in started:
        agent.stop()


def start_claimed(config_file: Path, agents: list[EdgeAgent]) -> EdgeAgent:
    agent = EdgeAgent(load_config(config_file))
    agent.start()
    agents.append(agent)
    assert agent.transport.wait_connected(15), "the claimed box did not connect"
    return agent


class RawBox:
    """A paho client with a box's credentials, to try what a rogue box would."""

    def __init__(self, broker_port: int, ca: Path, *, username: str | None, password: str | None,
                 client_id: str) -> None:  # fmt: skip
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.tls_set(ca_certs=str(ca))
        self.connack: list[ReasonCode] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.received: list[mqtt.MQTTMessage] = []
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.append(rc)
        self.client.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, rc)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.__setitem__(mid, rcs)
        self.client.on_message = lambda c, u, m: self.received.append(m)
        self.client.connect_async("127.0.0.1", broker_port)
        self.client.loop_start()
        wait_until(lambda: bool(self.connack), timeout=10, what="a CONNACK")

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.pubacks, timeout=10, what=f"PUBACK on {topic}")
        return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        wait_until(lambda: mid in self.subacks, timeout=10, what=f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def event_for(device_id: str, type_: str) -> Event:
    return Event(device_id=device_id, seq=1, ts=now_us(), msg_id=new_message_id(), type=type_)


def stored_event(ingest: IngestWorker, msg_id: str) -> EventRecord | None:
    return look(ingest.readers, lambda s: s.get(EventRecord, msg_id))


def device_view(api: Service, device_id: str) -> dict[str, Any]:
    with api.client("viewer") as client:
        response = client.get(f"/api/v1/devices/{device_id}")
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def test_a_claimed_box_publishes_and_its_neighbour_cannot_act_as_it(
    tmp_path: Path,
    broker: MosquittoServer,  # noqa: F811
    ingest: IngestWorker,
    api: Service,
    agents: list[EdgeAgent],
    dynsec_setup: DynsecSetup,  # noqa: F811
) -> None:
    box_a, token_a = provision_box(api, tmp_path, kind="checkout", site="canteen-1")
    assert device_view(api, box_a)["state"] == "registered"

    done = tianshan("edge", "claim", "--cloud", api.base_url, "--token", token_a,
                    "--dir", str(tmp_path / box_a))  # fmt: skip
    assert done.returncode == 0, done.stderr
    config_file = tmp_path / box_a / "edge.toml"
    for written in (config_file, tmp_path / box_a / "ca.pem"):
        assert written.stat().st_mode & 0o777 == 0o600
    config = load_config(config_file)
    assert config.device.id == box_a
    assert config.device.kind == "checkout"
    assert config.mqtt.tls is not None
    assert broker.tls is not None
    assert config.mqtt.port == broker.tls.port
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() not in done.stdout + done.stderr
    assert device_view(api, box_a)["state"] == "claimed"

    # The box connects over TLS with its own account; what it sends is ingested.
    box = start_claimed(config_file, agents)
    sent = box.send_event("checkout.test", lane=Lane.TRANSACTION)
    assert box.drain(10)
    wait_until(lambda: stored_event(ingest, sent.msg_id) is not None, timeout=15,
               what="the box's event in SQL")  # fmt: skip
    wait_until(lambda: device_view(api, box_a)["state"] == "online", timeout=15, what="online")

    # A second box, claimed the same way, tries to act as the first one.
    box_b, token_b = provision_box(api, tmp_path, kind="fire", site="canteen-1")
    bundle_b = claim(api.base_url, token_b, tmp_path / box_b).bundle
    assert bundle_b.mqtt.password is not None
    assert bundle_b.mqtt.ca_cert is not None
    ca = tmp_path / box_b / "ca.pem"
    rogue = RawBox(
        bundle_b.mqtt.port, ca, username=box_b, password=bundle_b.mqtt.password, client_id=box_b
    )
    try:
        assert not rogue.connack[0].is_failure
        forged = event_for(box_a, "fire.alarm")
        refused = rogue.publish(device_topic(box_a, Channel.EVENT), encode(forged))
        assert refused.is_failure
        assert refused.getName() == "Not authorized"
        for topic in (
            device_topic(box_a, Channel.CONFIG),
            "tianshan/v1/dev/+/config",
            "tianshan/v1/dev/#",
            "#",
        ):
            assert rogue.subscribe(topic).is_failure, f"{box_b} may subscribe to {topic}"
        # Its own topics work; once its own event is in SQL, the forged one would be too.
        own = event_for(box_b, "fire.test")
        assert not rogue.publish(device_topic(box_b, Channel.EVENT), encode(own)).is_failure
        wait_until(lambda: stored_event(ingest, own.msg_id) is not None, timeout=15,
                   what="the second box's own event")  # fmt: skip
        assert stored_event(ingest, forged.msg_id) is None
        rejected = look(ingest.readers, lambda s: s.query(RejectedMessage).count())
        assert rejected == 0  # it never reached the ingest at all
        assert rogue.received == []
    finally:
        rogue.close()

    # Nor can it take over the first box's session (client id) or log in as it.
    for username, password, client_id in (
        (box_b, bundle_b.mqtt.password, box_a),
        (box_a, bundle_b.mqtt.password, box_a),
        (None, None, "anonymous-box"),
    ):
        intruder = RawBox(bundle_b.mqtt.port, ca, username=username, password=password,
                          client_id=client_id)  # fmt: skip
        try:
            assert intruder.connack[0].getName() == "Not authorized", (username, client_id)
        finally:
            intruder.close()
    assert box.transport.connected  # the first box was not kicked off by any of that

    # No secret in any log, and the plugin keeps hashes, not passwords.
    secrets_ = [
        config.mqtt.password.get_secret_value(),
        bundle_b.mqtt.password,
        dynsec_setup.admin_password,
        dynsec_setup.ingest_password or "",
        token_a,
    ]
    logs = (api.log_path.read_text(), (broker.data_dir / "mosquitto.log").read_text())
    stored = (broker.data_dir / "dynamic-security.json").read_text()
    for secret in secrets_:
        assert secret
        assert all(secret not in log for log in logs)
        assert secret not in stored
    assert box_a in stored  # the device's account is there, by name


def test_claim_tokens_work_once_and_expire(
    tmp_path: Path,
    api: Service,
    cloud_settings: CloudSettings,  # noqa: F811
) -> None:
    box, token = provision_box(api, tmp_path, kind="parking", site="lane-800")
    assert claim(api.base_url, token, tmp_path / "first").bundle.device_id == box

    again = tianshan("edge", "claim", "--cloud", api.base_url, "--token", token,
                     "--dir", str(tmp_path / "second"))  # fmt: skip
    assert again.returncode == 1
    assert "already used" in again.stderr
    assert "409" in again.stderr
    assert not (tmp_path / "second" / "edge.toml").exists()

    unknown = tianshan("edge", "claim", "--cloud", api.base_url, "--token", "tsc_nonsense",
                       "--dir", str(tmp_path / "third"))  # fmt: skip
    assert unknown.returncode == 1
    assert "unknown claim token" in unknown.stderr

    # A token past its expiry time (set in SQL: nobody waits 24 hours in a test).
    late_box, late_token = provision_box(api, tmp_path, kind="fire", site="lane-800")
    engine = make_engine(cloud_settings.sql.url)
    with writer_factory(engine).begin() as session:
        session.execute(
            update(ClaimToken)
            .where(ClaimToken.device_id == late_box)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    engine.dispose()
    with pytest.raises(ClaimError, match=r"claim token expired \(HTTP 410\)"):
        claim(api.base_url, late_token, tmp_path / "late")
    assert device_view(api, late_box)["state"] == "registered"

    # The operator issues a new one; the box claims with it.
    with api.client("operator") as operator:
        fresh = operator.post(f"/api/v1/devices/{late_box}/claim-token")
    assert fresh.status_code == 201
    first = claim(api.base_url, fresh.json()["claim_token"], tmp_path / "late").bundle.mqtt
    assert device_view(api, late_box)["state"] == "claimed"

    # A replaced box claims again: the new password works, the old one no longer does.
    with api.client("operator") as operator:
        replacement = operator.post(f"/api/v1/devices/{late_box}/claim-token").json()
    second = claim(
        api.base_url, replacement["claim_token"], tmp_path / "replacement", overwrite=True
    ).bundle.mqtt
    assert second.password != first.password
    ca = tmp_path / "replacement" / "ca.pem"
    for password, answer in ((first.password, "Not authorized"), (second.password, "Success")):
        attempt = RawBox(second.port, ca, username=late_box, password=password, client_id=late_box)
        try:
            assert attempt.connack[0].getName() == answer
        finally:
            attempt.close()


def test_a_revoked_box_is_dropped_within_5_s_and_stays_out(
    tmp_path: Path,
    ingest: IngestWorker,
    api: Service,
    agents: list[EdgeAgent],
) -> None:
    box_id, token = provision_box(api, tmp_path, kind="checkout", site="canteen-2")
    claimed = claim(api.base_url, token, tmp_path / box_id)
    box = start_claimed(claimed.config_file, agents)

    done = tianshan("provision", "revoke", box_id, "--cloud", api.base_url,
                    token=api.tokens["operator"])  # fmt: skip
    revoked_at = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert "broker account disabled" in done.stdout
    wait_until(lambda: not box.transport.connected, timeout=5, what="the broker to drop the box")
    assert time.monotonic() - revoked_at <= 5.0

    mqtt_access = claimed.bundle.mqtt
    retry = RawBox(mqtt_access.port, tmp_path / box_id / "ca.pem", username=box_id,
                   password=mqtt_access.password, client_id=box_id)  # fmt: skip
    try:
        assert retry.connack[0].getName() == "Not authorized"
    finally:
        retry.close()
    assert not box.transport.connected  # its own reconnection attempts failed meanwhile
    view = device_view(api, box_id)
    assert view["state"] == "revoked"
    assert view["revoked_at"] is not None
    with api.client("operator") as operator:
        assert operator.post(f"/api/v1/devices/{box_id}/claim-token").status_code == 409
        assert operator.post(f"/api/v1/devices/{box_id}/revoke").status_code == 200


def test_pushed_configs_show_in_the_fleet_and_a_bad_price_table_is_refused(
    tmp_path: Path,
    ingest: IngestWorker,
    api: Service,
    agents: list[EdgeAgent],
) -> None:
    box_id, token = provision_box(api, tmp_path, kind="checkout", site="canteen-3")
    box = start_claimed(claim(api.base_url, token, tmp_path / box_id).config_file, agents)
    good = tmp_path / "winter.json"
    good.write_text(
        json.dumps({"checkout": {"prices": {"version": "winter", "colours": {"red": 13}}}})
    )
    pushed = tianshan("provision", "push-config", box_id, "--file", str(good),
                      "--cloud", api.base_url, token=api.tokens["operator"])  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert "config version 1 pushed" in pushed.stdout
    wait_until(lambda: device_view(api, box_id)["config_version"] == 1, timeout=15,
               what="the box's ack of version 1")  # fmt: skip
    assert device_view(api, box_id)["config_drift"] is False

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"checkout": {"prices": {"colours": {"red": -1}}}}))
    pushed = tianshan("provision", "push-config", box_id, "--file", str(bad),
                      "--cloud", api.base_url, token=api.tokens["operator"])  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    wait_until(lambda: device_view(api, box_id)["config_rejected_version"] == 2, timeout=15,
               what="the box's refusal of version 2")  # fmt: skip
    view = device_view(api, box_id)
    assert "negative" in view["config_rejected_reason"]
    assert view["config_version"] == 1
    assert view["config_current_version"] == 2
    assert view["config_drift"] is True
    assert box.config_version == 1  # still running the good one

    listed = tianshan("provision", "list", "--cloud", api.base_url, token=api.tokens["operator"])
    assert listed.returncode == 0, listed.stderr
    line = next(row for row in listed.stdout.splitlines() if row.startswith(box_id))
    assert "online" in line
    assert "DRIFT" in line
    assert "negative" in line
    assert "1 not running their current config" in listed.stdout


def test_the_provision_cli_says_what_is_wrong(tmp_path: Path, api: Service) -> None:
    no_token = tianshan("provision", "list", "--cloud", api.base_url)
    assert no_token.returncode == 1
    assert "no API token" in no_token.stderr
    viewer = tianshan("provision", "box", "--site", "s", "--kind", "fire", "--cloud",
                      api.base_url, token=api.tokens["viewer"])  # fmt: skip
    assert viewer.returncode == 1
    assert "needs operator" in viewer.stderr
    down = tianshan("provision", "list", "--cloud", "http://127.0.0.1:9", token="tsn_x")
    assert down.returncode == 1
    assert "cannot reach the cloud" in down.stderr
    unknown = tianshan("provision", "revoke", "nobody", "--cloud", api.base_url,
                       token=api.tokens["operator"])  # fmt: skip
    assert unknown.returncode == 1
    assert "no registered device 'nobody'" in unknown.stderr


def test_bulk_registration_from_csv(tmp_path: Path, api: Service) -> None:
    sheet = tmp_path / "boxes.csv"
    sheet.write_text(
        "site,kind,name\n"
        "canteen-1,checkout,Till 1\n"
        "canteen-1,checkout,Till 2\n"
        "canteen-1,toaster,Not a kind\n"
        "lane-800,parking,Bays north\n"
    )
    done = tianshan("provision", "bulk", str(sheet), "--out", str(tmp_path / "claims"),
                    "--cloud", api.base_url, token=api.tokens["operator"])  # fmt: skip
    assert done.returncode == 1  # one row was skipped, and the exit code says so
    assert "boxes.csv:4: skipped" in done.stderr
    assert "registering" in done.stderr  # tqdm's bar
    assert "3 boxes registered" in done.stdout
    claims = tmp_path / "claims" / "claims.csv"
    assert claims.stat().st_mode & 0o777 == 0o600
    rows = claims.read_text().splitlines()[1:]
    assert len(rows) == 3
    with api.client("viewer") as viewer:
        names = {d["name"] for d in viewer.get("/api/v1/devices").json()}
    assert {"Till 1", "Till 2", "Bays north"} <= names
    device_id, *_, token, _, png = rows[0].split(",")
    assert Path(png).exists()
    assert token.startswith("tsc_")
    assert claim(api.base_url, token, tmp_path / "bulk-box").bundle.device_id == device_id
