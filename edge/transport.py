"""The agent's MQTT v5 connection: paho in its own thread, TLS and credentials, a last
will, and reconnection with jittered exponential backoff.

paho calls back on its network thread; every callback here only hands the news on
(the agent queues it), so the network thread never waits on the outbox.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.backoff import Backoff
from edge.config import MqttConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class TransportHooks:
    """What the transport reports. All are called on paho's network thread."""

    connected: Callable[[], None]
    disconnected: Callable[[str], None]
    puback: Callable[[int, int, str], None]  # mid, reason code value, reason name
    message: Callable[[str, bytes], None]


class MqttTransport:
    def __init__(
        self,
        config: MqttConfig,
        *,
        client_id: str,
        hooks: TransportHooks,
        will: Callable[[], Will] | None = None,
        subscriptions: tuple[tuple[str, int], ...] = (),
    ) -> None:
        self._config = config
        self._hooks = hooks
        self._will = will
        self._subscriptions = subscriptions
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._connected = threading.Event()
        self._stopping = False
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
        )
        client = self._client
        # Our outbox bounds what is in flight; paho must not queue or cap on its own.
        client.max_inflight_messages_set(config.publish_window)
        client.max_queued_messages_set(0)
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else None
            client.username_pw_set(config.username, password)
        self._tls: ssl.SSLContext | None = None
        if config.tls is not None:
            # Verifies the broker's certificate and host name; the same context is used
            # to explain a failed connection (see _why_not).
            self._tls = ssl.create_default_context(
                cafile=str(config.tls.ca_file) if config.tls.ca_file else None
            )
            if config.tls.cert_file and config.tls.key_file:
                self._tls.load_cert_chain(str(config.tls.cert_file), str(config.tls.key_file))
            client.tls_set_context(self._tls)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._arm_will()
        self._next_delay()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        log.info(
            "connecting to mqtt%s://%s:%d as %s",
            "s" if self._config.tls else "",
            self._config.host,
            self._config.port,
            self._client._client_id.decode(),
        )
        self._client.connect_async(
            self._config.host,
            self._config.port,
            keepalive=self._config.keepalive_s,
            clean_start=True,
            properties=props,
        )
        self._client.loop_start()

    def stop(self, *, final: tuple[str, bytes] | None = None) -> None:
        """Disconnect cleanly (no will), after publishing ``final`` if connected."""
        self._stopping = True
        if final is not None and self.connected:
            info = self._client.publish(final[0], final[1], qos=1, retain=True)
            info.wait_for_publish(timeout=2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> int | None:
        """Hand a message to paho; returns its mid, or None when not connected."""
        if not self._connected.is_set():
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        return int(info.mid)

    # -- paho callbacks (network thread) -----------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason.getName())
            return
        # The outbox replays whatever was not acknowledged, in order; paho's own
        # in-memory copies would be sent a second time, so they go.
        client.drop_out_messages()
        for topic, qos in self._subscriptions:
            client.subscribe(topic, qos=qos)
        self._backoff.reset()
        self._connected.set()
        log.info("connected to %s:%d", self._config.host, self._config.port)
        self._hooks.connected()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        attempt = self._backoff.attempt
        delay = self._next_delay()
        # paho does not say why; find out on the first failure of a streak, and now
        # and then after, so an installer sees "certificate verify failed", not silence.
        why = f": {self._why_not()}" if attempt % 10 == 1 else ""
        log.warning(
            "cannot connect to broker %s:%d%s; retrying in %.1f s",
            self._config.host,
            self._config.port,
            why,
            delay,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._arm_will()
        delay = self._next_delay()
        if self._stopping:
            log.info("disconnected from broker")
        elif was_connected:
            log.warning(
                "disconnected from broker (%s); reconnecting in %.1f s", reason.getName(), delay
            )
        if was_connected:
            self._hooks.disconnected(reason.getName())

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._hooks.puback(mid, reason.value, reason.getName())

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._hooks.message(message.topic, bytes(message.payload))

    # -- helpers ---------------------------------------------------------------------

    def _why_not(self) -> str:
        host, port = self._config.host, self._config.port
        try:
            with socket.create_connection((host, port), timeout=5) as raw:
                if self._tls is not None:
                    with self._tls.wrap_socket(raw, server_hostname=host):
                        pass
        except ssl.SSLCertVerificationError as exc:
            return f"TLS: certificate verify failed ({exc.verify_message})"
        except ssl.SSLError as exc:
            return f"TLS handshake failed ({exc.reason or exc})"
        except OSError as exc:
            return exc.strerror or str(exc)
        return "the network path works; the broker ended the MQTT handshake"

    def _arm_will(self) -> None:
        """A new will for the next connection (it carries that connection's session)."""
        if self._will is not None:
            will = self._will()
            self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def _next_delay(self) -> float:
        """paho waits ``min_delay`` before its next attempt after a reset; setting both
        bounds to our jittered delay makes that wait exactly ours."""
        delay = self._backoff.next()
        self._client.reconnect_delay_set(min_delay=delay, max_delay=delay)  # type: ignore[arg-type]
        return delay
