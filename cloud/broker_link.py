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
from cloud.dynsec import DynsecControl
from cloud.mqtt_client import new_client

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not take a message in time."""


class BrokerLink:
    """With ``security_admin``, the link logs in as the dynamic security plugin's admin
    and :attr:`control` sends it commands (device accounts, revocation)."""

    def __init__(
        self,
        cfg: BrokerConfig,
        *,
        name: str = "api",
        on_alerts: Callable[[], None] | None = None,
        security_admin: bool = False,
    ) -> None:
        self.cfg = cfg
        self._connected = threading.Event()
        self._stopping = False
        self.client = new_client(cfg, client_id=f"tianshan-{name}-{uuid.uuid4().hex[:8]}")
        self._on_alerts = on_alerts
        self.control = DynsecControl(self.client) if security_admin else None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

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
        if self.control is not None:
            self.control.on_connect()
        log.info("API connected to broker %s:%d", self.cfg.host, self.cfg.port)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if self.control is not None:
            self.control.on_subscribe(mid, any(r.is_failure for r in reasons))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.control is not None and self.control.on_message(message):
            return
        if message.topic == ALERTS_TOPIC and self._on_alerts is not None:
            self._on_alerts()

    def publish_retained(self, topic: str, payload: bytes, *, timeout_s: float = 5.0) -> None:
        """Publish at QoS 1 with retain and wait for the broker's PUBACK; raise
        :class:`BrokerUnavailable` if the broker cannot be reached in time."""
        if not self._connected.wait(timeout_s):
            raise BrokerUnavailable("the API is not connected to the broker")
        info = self.client.publish(topic, payload, qos=1, retain=True)
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise BrokerUnavailable(f"publish to the broker failed: {exc}") from None
        if not info.is_published():
            raise BrokerUnavailable(f"the broker did not acknowledge within {timeout_s:g} s")

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
        if self.control is not None:
            self.control.on_disconnect()
