"""The cloud's MQTT v5 clients (API link and ingest workers), configured one way."""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MessageState, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.config import BrokerConfig


def new_client(cfg: BrokerConfig, *, client_id: str, manual_ack: bool = False) -> mqtt.Client:
    """A paho client with the broker's credentials and TLS, reconnecting quickly.

    Quickly, because after a broker restart devices hold their messages until the
    ingest has subscribed again (the broker answers them "no matching subscribers").
    """
    client = BlockReadingClient(
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


#: Bytes asked of the kernel per read: a few hundred small PUBLISH packets.
READ_BLOCK: Final = 64 * 1024
#: Packets handled per pass of paho's loop while whole blocks are waiting (then keep-alive
#: and writes get their turn).
PACKETS_PER_PASS: Final = 1000


class BlockReader:
    """The broker connection for paho, read a block at a time.

    paho reads each packet with three system calls or more (the command byte, each byte of
    the remaining length, then the rest) and waits in ``select`` before each packet. Every
    call lets go of the GIL, and in the ingest the writer thread takes it; reading in blocks
    took the ingest from 68 to 54 µs of CPU per one-reading message (docs/BENCHMARKS.md).
    This reads up to ``READ_BLOCK`` bytes at once and serves paho's small reads from them;
    ``pending`` (which paho asks of TLS sockets already) says how much is buffered, so paho
    neither waits in ``select`` while packets are here nor misses them.
    """

    __slots__ = ("_buffer", "_position", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: from the block read before, else from a new one.

        Errors of the socket (would block, TLS wants to read, connection lost) and the empty
        read of a closed connection reach paho as they would without this."""
        position = self._position
        buffer = self._buffer
        if position >= len(buffer):
            buffer = self._sock.recv(READ_BLOCK)
            if not buffer:
                return b""
            self._buffer = buffer
            position = 0
        end = min(position + size, len(buffer))
        self._position = end
        if position == 0 and end == len(buffer):
            return buffer
        return buffer[position:end]

    def pending(self) -> int:
        """Bytes read and not yet handed to paho (plus what TLS holds decrypted)."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buffer) - self._position + inner

    def send(self, data: bytes | bytearray) -> int:
        sent: int = self._sock.send(data)
        return sent

    def fileno(self) -> int:
        number: int = self._sock.fileno()
        return number

    def close(self) -> None:
        self._sock.close()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class LeanMessage(mqtt.MQTTMessage):
    """A received PUBLISH that carried no MQTT 5 properties.

    paho's ``MQTTMessage`` less the two objects paho builds for every message received and
    the cloud never reads: an empty ``Properties`` (about a fifth of the ingest's receiving
    time, py-spy) and an ``MQTTMessageInfo``, whose ``threading.Condition`` serves only
    messages sent. Both are made when asked for.
    """

    __slots__ = ()

    @property
    def properties(self) -> Properties:  # type: ignore[override]
        """An empty PUBLISH ``Properties`` (the packet had none)."""
        return Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]

    @property
    def info(self) -> mqtt.MQTTMessageInfo:  # type: ignore[override]
        """As paho's: a fresh ``MQTTMessageInfo`` for this packet id."""
        return mqtt.MQTTMessageInfo(self.mid)


class BlockReadingClient(mqtt.Client):
    """paho's client, reading the broker connection in blocks (:class:`BlockReader`), and
    building a :class:`LeanMessage` for each PUBLISH at QoS 0 or 1 without properties.

    Uses three of paho's internal methods, ``_create_socket`` (wrapped), ``loop_read`` (run
    again while a block holds packets) and ``_handle_publish`` (taken over for those
    packets, which it then hands to paho's ``_handle_on_message`` as paho does);
    ``tests/integration/test_mqtt_blocks.py`` checks them against Mosquitto. WebSocket
    transport keeps paho's own reading.
    """

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport == "websockets":
            return sock
        return BlockReader(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's ``loop_read``, then every packet already read in a block, up to
        ``PACKETS_PER_PASS``."""
        rc = super().loop_read(max_packets)
        handled = 1
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and handled < PACKETS_PER_PASS:
            sock = self._sock
            if not isinstance(sock, BlockReader) or sock.pending() <= 0:
                break
            rc = super().loop_read(max_packets)
            handled += 1
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        packet: bytearray = self._in_packet["packet"]
        header: int = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if self._protocol != mqtt.MQTTv5 or qos > 1 or len(packet) < 3:
            return super()._handle_publish()
        topic_end = 2 + ((packet[0] << 8) | packet[1])
        properties_at = topic_end + 2 * qos  # QoS 1: the packet id comes first
        # Properties (a topic alias, user properties...), an empty topic, a short packet:
        # paho's own decoding, which knows them all and refuses what is malformed.
        if topic_end == 2 or len(packet) <= properties_at or packet[properties_at] != 0:
            return super()._handle_publish()
        message = LeanMessage.__new__(LeanMessage)
        message.timestamp = time.monotonic()  # as paho stamps it
        message.state = MessageState.MQTT_MS_INVALID
        message.dup = bool(header & 0x08)
        message.retain = bool(header & 0x01)
        message.qos = qos
        message.mid = (packet[topic_end] << 8) | packet[topic_end + 1] if qos else 0
        with memoryview(packet) as view:  # released at once: paho reuses the bytearray
            message.topic = bytes(view[2:topic_end])  # bytes, as paho's own decoding gives
            message.payload = bytes(view[properties_at + 1 :])
        self._handle_on_message(message)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(message.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS


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
