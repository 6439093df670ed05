"""The cloud's MQTT v5 clients (API link and ingest workers), configured one way."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.config import BrokerConfig


def new_client(cfg: BrokerConfig, *, client_id: str, manual_ack: bool = False) -> mqtt.Client:
    """A paho client with the broker's credentials and TLS, reconnecting quickly.

    Quickly, because after a broker restart devices hold their messages until the
    ingest has subscribed again (the broker answers them "no matching subscribers").
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if cfg.username is not None:
        client.username_pw_set(
            cfg.username, cfg.password.get_secret_value() if cfg.password else None
        )
    if cfg.ca_file is not None:
        client.tls_set(ca_certs=str(cfg.ca_file))
    client.reconnect_delay_set(min_delay=0.5, max_delay=5)  # type: ignore[arg-type]
    return client


_PUBACK = 0x40  # MQTT control packet type 4, no flags


def ack_many(client: mqtt.Client, mids: Sequence[int]) -> None:
    """Send a PUBACK for each QoS 1 packet id in ``mids``, in that order, in one write.

    ``Client.ack`` queues each PUBACK on its own and wakes paho's network thread with a
    system call for each; with one reading per message that was about a tenth of the
    ingest's CPU (py-spy, docs/BENCHMARKS.md). These are the bytes ``Client.ack`` sends
    (fixed header, remaining length 2, packet id: MQTT 5 section 3.4.2.1 lets a PUBACK
    with reason "success" leave the reason out), joined, and handed to paho's own send
    queue as one block, which paho writes after what it queued before, in order.
    ``_packet_queue`` is paho's internal method: without it (another paho), fall back to
    one ``ack`` per id.
    """
    if not mids:
        return
    queue = getattr(client, "_packet_queue", None)
    if queue is None or not client._manual_ack:  # pragma: no cover - other paho versions
        for mid in mids:
            client.ack(mid, 1)
        return
    block = struct.pack(f"!{len(mids)}I", *((_PUBACK << 24) | (2 << 16) | mid for mid in mids))
    queue(_PUBACK, block, 0, 0)
