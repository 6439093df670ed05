"""The cloud's MQTT v5 clients (API link and ingest workers), configured one way."""

from __future__ import annotations

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
