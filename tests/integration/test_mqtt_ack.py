"""``ack_many`` against real Mosquitto: what it acknowledges is never delivered again,
what it leaves out is."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.config import BrokerConfig
from cloud.mqtt_client import ack_many, new_client
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import wait_until

TOPIC = "tianshan/test/ack"
COUNT = 3000
ACKED = 2000


def _subscriber(broker: MosquittoServer) -> tuple[mqtt.Client, list[mqtt.MQTTMessage]]:
    client = new_client(BrokerConfig(port=broker.port), client_id="acker", manual_ack=True)
    got: list[mqtt.MQTTMessage] = []
    lock = threading.Lock()

    def on_message(c: mqtt.Client, u: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            got.append(message)

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(TOPIC, qos=1)
    # A persistent session: the broker keeps what is not acknowledged.
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 600
    props.ReceiveMaximum = 65535
    client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
    client.loop_start()
    assert subscribed.wait(10)
    return client, got


def _wait_for(got: list[mqtt.MQTTMessage], n: int, timeout: float = 30.0) -> None:
    wait_until(lambda: len(got) >= n, timeout=timeout, what=f"{n} messages")
    assert len(got) == n, f"{len(got)} messages, expected {n}"


def test_ack_many_acknowledges_exactly_the_ids_given(broker: MosquittoServer) -> None:
    client, got = _subscriber(broker)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    infos = [publisher.publish(TOPIC, str(i).encode(), qos=1) for i in range(COUNT)]
    for info in infos:
        info.wait_for_publish(10)
    _wait_for(got, COUNT)
    assert [m.payload for m in got] == [str(i).encode() for i in range(COUNT)]

    # Acknowledge the first ACKED in one block; leave the rest unacknowledged.
    ack_many(client, [m.mid for m in got[:ACKED]])
    time.sleep(0.5)  # let paho's network thread write the block
    client.disconnect()
    client.loop_stop()

    # The broker delivers again exactly what was not acknowledged, in order.
    client, again = _subscriber(broker)
    _wait_for(again, COUNT - ACKED)
    time.sleep(0.5)
    assert [m.payload for m in again] == [str(i).encode() for i in range(ACKED, COUNT)]
    ack_many(client, [m.mid for m in again])
    ack_many(client, [])  # nothing to send: no packet
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()

    client, none_left = _subscriber(broker)
    time.sleep(1.0)
    assert none_left == []
    client.disconnect()
    client.loop_stop()
    publisher.disconnect()
    publisher.loop_stop()
