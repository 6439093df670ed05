"""One MQTT message → accepted (with its InfluxDB lines) or rejected (with a reason).

Pure and total: any bytes on any topic give one of the two, never an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from cloud.storage.line_protocol import checkout_line, event_line, state_line, telemetry_lines
from cloud.storage.rejects import Rejection
from wire import Channel, DeviceMessage, Event, State, Telemetry, WireError, decode_device_message
from wire.checkout import CheckoutTransaction
from wire.events import event_data
from wire.topics import TOPIC_ROOT, is_valid_device_id

log = logging.getLogger(__name__)

# Cloud-side reasons, beside the contract's wire.RejectReason values.
STORAGE_REFUSED = "storage_refused"
INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class TelemetrySummary:
    """What the ingest keeps of a telemetry message once its lines are built: a parsed
    message holds an object per reading, and thousands wait for their batch (memory,
    and work for the garbage collector)."""

    device_id: str
    seq: int
    readings: int
    channel: ClassVar[Channel] = Channel.TELEMETRY


@dataclass(frozen=True, slots=True)
class Accepted:
    message: DeviceMessage | TelemetrySummary
    lines: tuple[str, ...] = ()  # InfluxDB line protocol, one block per message
    line_count: int = 0
    data: BaseModel | None = None  # a typed event's payload (wire.events)
    payload: bytes = b""  # telemetry: the message as received, should storage refuse it


def device_of(topic: str) -> str | None:
    """The device a topic names, if it names a valid one (for rejected messages)."""
    parts = topic.split("/")
    root = TOPIC_ROOT.count("/") + 1
    if len(parts) > root and is_valid_device_id(parts[root]):
        return parts[root]
    return None


def classify(topic: str, payload: bytes) -> Accepted | Rejection:
    try:
        message = decode_device_message(topic, payload)
    except WireError as exc:
        return Rejection(topic, payload, exc.reason.value, exc.detail, device_of(topic))
    except Exception as exc:  # a bug must cost one message, not the worker
        log.exception("unexpected error decoding a message on %s", topic[:200])
        return Rejection(topic, payload, INTERNAL_ERROR, repr(exc)[:500], device_of(topic))
    if isinstance(message, Telemetry):
        lines = telemetry_lines(message)
        summary = TelemetrySummary(message.device_id, message.seq, len(message.readings))
        return Accepted(summary, ("\n".join(lines),), len(lines), payload=payload)
    if isinstance(message, Event):
        return _classify_event(topic, payload, message)
    if isinstance(message, State):
        return Accepted(message, (state_line(message),), 1)
    return Accepted(message)


def _classify_event(topic: str, payload: bytes, event: Event) -> Accepted | Rejection:
    """A typed event's data must validate too (wire.events)."""
    try:
        data = event_data(event)
    except WireError as exc:
        return Rejection(topic, payload, exc.reason.value, exc.detail, event.device_id)
    lines = [event_line(event)]
    if isinstance(data, CheckoutTransaction):
        lines.append(checkout_line(event, data))
    return Accepted(event, tuple(lines), len(lines), data)
