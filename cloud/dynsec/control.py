"""Commands to the dynamic security plugin over MQTT, and their answers.

Requests go to ``$CONTROL/dynamic-security/v1`` as ``{"commands": [...]}``; the plugin
answers each command on ``…/response`` with the ``correlationData`` it was given. Many
API threads may wait at once: each waits for its own correlation ids.

Commands carry passwords in clear (the plugin hashes them on arrival), so their payloads
are never logged.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger(__name__)

REQUEST_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = REQUEST_TOPIC + "/response"


class DynsecError(RuntimeError):
    """The plugin refused a command; ``str()`` names the command and its error."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"{command}: {error}")
        self.command = command
        self.error = error


class DynsecUnavailable(RuntimeError):
    """No answer from the broker (not connected, not subscribed, or timed out)."""


Command = Mapping[str, Any]
Response = dict[str, Any]


class DynsecControl:
    """Sends commands on a paho client that the owner connects and drives.

    The owner calls :meth:`on_connect` from its connect callback, :meth:`on_subscribe`
    and :meth:`on_message` from the matching callbacks (``on_message`` returns whether
    the message was ours).
    """

    def __init__(self, client: mqtt.Client, *, timeout_s: float = 5.0) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[Response]]] = {}
        self._ready = threading.Event()
        self._sub_mid: int | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    # -- paho callbacks, forwarded by the owner ----------------------------------------

    def on_connect(self) -> None:
        self._ready.clear()
        _, mid = self._client.subscribe(RESPONSE_TOPIC, qos=1)
        self._sub_mid = mid

    def on_disconnect(self) -> None:
        self._ready.clear()

    def on_subscribe(self, mid: int, refused: bool) -> None:
        if mid != self._sub_mid:
            return
        if refused:
            log.error("the broker refused our subscription to %s (not an admin?)", RESPONSE_TOPIC)
            return
        self._ready.set()

    def on_message(self, message: mqtt.MQTTMessage) -> bool:
        if message.topic != RESPONSE_TOPIC:
            return False
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.error("unreadable dynamic-security response (%d bytes)", len(message.payload))
            return True
        with self._lock:
            for response in responses:
                if not isinstance(response, dict):
                    continue
                key = str(response.get("correlationData", ""))
                request_id, _, _ = key.partition(":")
                waiting = self._waiting.get(request_id)
                if waiting is not None:
                    waiting[1].append(response)
                    if len(waiting[1]) >= int(key.rpartition(":")[2] or 0):
                        waiting[0].set()
        return True

    # -- requests --------------------------------------------------------------------

    def run(self, commands: Sequence[Command]) -> list[Response]:
        """Send ``commands`` in one message; their responses, in the commands' order.

        Raises :class:`DynsecUnavailable` if the broker does not answer in time. Errors
        of single commands are in the responses (``"error"``); see :meth:`check`.
        """
        if not commands:
            return []
        if not self._ready.wait(self._timeout_s):
            raise DynsecUnavailable("not connected to the broker as its security admin")
        request_id = uuid.uuid4().hex
        total = len(commands)
        tagged = [
            dict(c) | {"correlationData": f"{request_id}:{i}:{total}"}
            for i, c in enumerate(commands)
        ]
        done = threading.Event()
        answers: list[Response] = []
        with self._lock:
            self._waiting[request_id] = (done, answers)
        try:
            info = self._client.publish(REQUEST_TOPIC, json.dumps({"commands": tagged}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise DynsecUnavailable(f"cannot send to the broker ({mqtt.error_string(info.rc)})")
            if not done.wait(self._timeout_s):
                raise DynsecUnavailable(
                    f"the broker did not answer {total} security command(s) within"
                    f" {self._timeout_s:g} s"
                )
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)
        order = {f"{request_id}:{i}:{total}": i for i in range(total)}
        return sorted(answers, key=lambda r: order.get(str(r.get("correlationData")), total))

    def check(self, commands: Sequence[Command], *, tolerate: frozenset[str] = frozenset()) -> None:
        """Run ``commands``; raise :class:`DynsecError` for the first error not tolerated
        (``tolerate`` holds error texts such as ``"Role already exists"``)."""
        for response in self.run(commands):
            error = response.get("error")
            if error and error not in tolerate:
                raise DynsecError(str(response.get("command", "?")), str(error))


@contextmanager
def admin_session(
    host: str,
    port: int,
    *,
    username: str,
    password: str,
    ca_file: Path | None = None,
    timeout_s: float = 10.0,
) -> Iterator[DynsecControl]:
    """A short-lived admin connection of its own (for scripts and fixtures)."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"tianshan-dynsec-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5,
    )
    client.username_pw_set(username, password)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file))
    control = DynsecControl(client, timeout_s=timeout_s)
    refused: list[str] = []

    def on_connect(c: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        if reason.is_failure:
            refused.append(reason.getName())
            return
        control.on_connect()

    def on_subscribe(c: mqtt.Client, u: Any, mid: int, codes: Any, p: Any) -> None:
        control.on_subscribe(mid, any(code.is_failure for code in codes))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe

    def on_message(c: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        control.on_message(message)

    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    try:
        if not control.wait_ready(timeout_s):
            why = f" (refused: {refused[0]})" if refused else ""
            raise DynsecUnavailable(f"no admin session with the broker at {host}:{port}{why}")
        yield control
    finally:
        client.disconnect()
        client.loop_stop()
