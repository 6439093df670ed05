"""The API process's own MQTT v5 connection: readiness, and the path live updates and
pushed configs take (each API replica has one)."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cloud.alerts.live import ALERTS_TOPIC
from cloud.config import BrokerConfig
from cloud.mqtt_client import new_client

log = logging.getLogger(__name__)


class BrokerLink:
    def __init__(
        self, cfg: BrokerConfig, *, name: str = "api", on_alerts: Callable[[], None] | None = None
    ) -> None:
        self.cfg = cfg
        self._connected = threading.Event()
        self._stopping = False
        self.client = new_client(cfg, client_id=f"tianshan-{name}-{uuid.uuid4().hex[:8]}")
        self._on_alerts = on_alerts
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the API connection: %s", reason.getName())
            return
        self._connected.set()
        if self._on_alerts is not None:
            client.subscribe(ALERTS_TOPIC, qos=0)
        log.info("API connected to broker %s:%d", self.cfg.host, self.cfg.port)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == ALERTS_TOPIC and self._on_alerts is not None:
            self._on_alerts()

    def wake_alerts(self) -> None:
        """Tell every API replica (this one too) that alert changes are in SQL."""
        if self.connected:
            self.client.publish(ALERTS_TOPIC, b"", qos=0)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._connected.is_set() and not self._stopping:
            log.warning("API lost the broker (%s); reconnecting", reason.getName())
        self._connected.clear()
