"""The cloud's MQTT client reads the broker connection in blocks (``BlockReader``): against
real Mosquitto, over plain TCP and over TLS, every packet arrives whole and in order, packets
that straddle a block and packets larger than a block included, with fewer reads from the
socket than paho makes alone (at least three per packet). PUBLISH packets without properties
become ``LeanMessage``; those with properties keep paho's own decoding."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.config import BrokerConfig
from cloud.mqtt_client import READ_BLOCK, BlockReader, LeanMessage, new_client
from provisioning.pki import Issued, create_ca, server_cert
from tianshan.servers.mosquitto import MosquittoServer, TlsListener
from tianshan.servers.process import free_port, wait_until

TOPIC = "tianshan/test/blocks"


def _payloads() -> list[bytes]:
    """Small packets in bulk, and sizes around the edges of MQTT's remaining-length bytes and
    of a block."""
    small = [f"reading {i}".encode() * (1 + i % 7) for i in range(4000)]
    edges = [
        b"",
        b"x" * 100,
        b"y" * 16_400,
        b"z" * (READ_BLOCK - 20),
        b"w" * (READ_BLOCK + 1),
        bytes(range(256)) * 1200,  # 307,200 bytes: three length bytes, several blocks
    ]
    return small[:1000] + edges + small[1000:2000] + edges + small[2000:]


class _CountingSocket:
    """Counts the reads that reach the real socket under a ``BlockReader``."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.reads = 0

    def recv(self, size: int) -> bytes:
        self.reads += 1
        data: bytes = self.sock.recv(size)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[MosquittoServer, Issued]]:
    ca = create_ca(tmp_path / "pki", name="Blocks Test CA")
    server = server_cert(ca, tmp_path / "pki", hosts=["127.0.0.1", "localhost"])
    tls = TlsListener(free_port(), ca.cert, server.cert, server.key)
    broker = MosquittoServer(tmp_path / "mosquitto", tls=tls).start()
    yield broker, ca
    broker.stop()


def _receive_all(cfg: BrokerConfig, publish_port: int, *, most_reads: float) -> None:
    payloads = _payloads()
    client = new_client(cfg, client_id="blocks")
    got: list[bytes] = []
    done = threading.Event()

    def on_message(c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        got.append(bytes(message.payload))
        if len(got) == len(payloads):
            done.set()

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(TOPIC, qos=1)
    client.connect(cfg.host, cfg.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        reader = client.socket()
        assert isinstance(reader, BlockReader)
        counting = _CountingSocket(reader._sock)
        reader._sock = counting

        # The subscriber is blocked while the broker queues: everything then arrives in a rush.
        with client._callback_mutex:
            publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            publisher.connect("127.0.0.1", publish_port)
            publisher.loop_start()
            infos = [publisher.publish(TOPIC, p, qos=1) for p in payloads]
            for info in infos:
                info.wait_for_publish(30)
            publisher.disconnect()
            publisher.loop_stop()
            time.sleep(0.5)
        # A packet left in a block unseen would wait for the next bytes: the keep-alive, 60 s.
        assert done.wait(15), f"{len(got)} of {len(payloads)} messages"
        assert got == payloads
        # paho alone reads three times or more per packet.
        assert counting.reads < most_reads * len(payloads), f"{counting.reads} reads"
    finally:
        client.disconnect()
        client.loop_stop()


def test_block_reads_over_tcp(broker: MosquittoServer) -> None:
    # A read takes whatever the kernel holds: hundreds of small packets at a time.
    _receive_all(BrokerConfig(port=broker.port), broker.port, most_reads=0.2)


def test_block_reads_over_tls(tls_broker: tuple[MosquittoServer, Issued]) -> None:
    broker, ca = tls_broker
    assert broker.tls is not None
    cfg = BrokerConfig(port=broker.tls.port, ca_file=ca.cert)
    # Mosquitto sends each packet in a TLS record of its own, and a TLS read returns one
    # record: one read per packet, where paho alone makes three.
    _receive_all(cfg, broker.port, most_reads=1.2)


def test_publish_fields_with_and_without_properties(broker: MosquittoServer) -> None:
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    publisher.publish(f"{TOPIC}/kept", b"retained", qos=1, retain=True).wait_for_publish(10)

    client = new_client(BrokerConfig(port=broker.port), client_id="fields")
    got: list[mqtt.MQTTMessage] = []
    subscribed = threading.Event()
    client.on_message = lambda c, u, m: got.append(m)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(f"{TOPIC}/#", qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = [("site", "tianshan-road")]
        props.ContentType = "application/json"
        publisher.publish(f"{TOPIC}/zero", b"qos 0", qos=0).wait_for_publish(10)
        publisher.publish(f"{TOPIC}/props", b"with", qos=1, properties=props).wait_for_publish(10)
        publisher.publish(f"{TOPIC}/one", "ünï".encode(), qos=1).wait_for_publish(10)
        wait_until(lambda: len(got) >= 4, timeout=10, what="the four messages")
        by_topic = {m.topic: m for m in got}
        assert sorted(by_topic) == [f"{TOPIC}/{t}" for t in ("kept", "one", "props", "zero")]

        kept, zero, one = (
            by_topic[f"{TOPIC}/kept"],
            by_topic[f"{TOPIC}/zero"],
            by_topic[f"{TOPIC}/one"],
        )
        for message in (kept, zero, one):
            assert isinstance(message, LeanMessage)
            assert message.properties.json() == {}  # type: ignore[no-untyped-call]
            assert message.info.mid == message.mid
        assert (kept.payload, kept.qos, kept.retain) == (b"retained", 1, True)
        assert (zero.payload, zero.qos, zero.retain, zero.mid) == (b"qos 0", 0, False, 0)
        assert (one.payload, one.qos, one.retain) == ("ünï".encode(), 1, False)
        assert one.mid > 0
        assert isinstance(one.payload, bytes)

        with_props = by_topic[f"{TOPIC}/props"]
        assert not isinstance(with_props, LeanMessage)
        assert with_props.payload == b"with"
        received: Any = with_props.properties
        assert received.UserProperty == [("site", "tianshan-road")]
        assert received.ContentType == "application/json"
    finally:
        client.disconnect()
        client.loop_stop()
        publisher.disconnect()
        publisher.loop_stop()
