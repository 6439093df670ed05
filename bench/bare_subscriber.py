"""A bare paho MQTT v5 subscriber: QoS 1, acknowledges on receipt, discards, counts.

The yardstick for the ingest: the same client library and protocol with nothing to
do. ``--subscribe-only`` makes its persistent session (so the broker queues for it)
and leaves; otherwise it drains and serves its count as Prometheus text. ``--lean``
uses the ingest's own client (``cloud.mqtt_client.BlockReadingClient``: paho reading
in blocks, PUBLISH without paho's per-message objects) instead of paho's.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry, Counter, start_http_server

from cloud.mqtt_client import BlockReadingClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="broker port")
    parser.add_argument("--client-id", default="bench-bare")
    parser.add_argument("--topic", default="$share/bare/tianshan/v1/dev/+/telemetry")
    parser.add_argument("--receive-maximum", type=int, default=20000)
    parser.add_argument("--metrics-port", type=int)
    parser.add_argument("--subscribe-only", action="store_true")
    parser.add_argument("--lean", action="store_true", help="the ingest's MQTT client")
    args = parser.parse_args()

    registry = CollectorRegistry()
    received = Counter("bench_bare_messages", "Messages received", registry=registry)
    subscribed = threading.Event()
    kind = BlockReadingClient if args.lean else mqtt.Client
    client = kind(CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = args.receive_maximum

    def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        c.subscribe(args.topic, qos=1)

    client.on_connect = on_connect
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, m: received.inc()
    client.connect("127.0.0.1", args.port, clean_start=False, properties=props)
    if args.subscribe_only:
        client.loop_start()
        subscribed.wait(10)
        client.disconnect()
        client.loop_stop()
        return
    if args.metrics_port:
        start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
    signal.signal(signal.SIGTERM, lambda *_: client.disconnect())
    client.loop_forever()


if __name__ == "__main__":
    main()
