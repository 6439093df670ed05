"""Bytes ↔ models, with the size limit and a reason for every refusal."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from wire.limits import MAX_PAYLOAD_BYTES
from wire.messages import MODEL_FOR_CHANNEL, DeviceConfig, DeviceMessage, WireMessage
from wire.topics import Channel, TopicError, parse_topic


class RejectReason(StrEnum):
    """Why a message was refused. Stable strings: they are metric labels and SQL values."""

    OVERSIZE = "oversize"
    MALFORMED_JSON = "malformed_json"
    UNSUPPORTED_VERSION = "unsupported_version"
    SCHEMA = "schema"
    BAD_TOPIC = "bad_topic"
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_DEVICE = "unknown_device"


class WireError(ValueError):
    """A payload that does not satisfy the contract."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class PayloadTooLarge(WireError):
    def __init__(self, size: int) -> None:
        super().__init__(
            RejectReason.OVERSIZE, f"payload is {size} bytes, limit is {MAX_PAYLOAD_BYTES}"
        )
        self.size = size


def encode(message: WireMessage) -> bytes:
    """Serialise a message, refusing one the other side would refuse for its size."""
    # Optional fields left unset stay off the wire (most readings have no tags).
    data = message.model_dump_json(exclude_none=True).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(data))
    return data


M = TypeVar("M", bound=BaseModel)


def decode_as(model: type[M], payload: bytes) -> M:
    """Validate ``payload`` as ``model``; raise :class:`WireError` with a reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(len(payload))
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise _explain(exc) from None


def decode(channel: Channel, payload: bytes) -> WireMessage:
    return decode_as(MODEL_FOR_CHANNEL[channel], payload)


def decode_device_message(topic: str, payload: bytes) -> DeviceMessage:
    """Topic and payload of a device message → model, checking they name the same device."""
    try:
        device_id, channel = parse_topic(topic)
    except TopicError as exc:
        raise WireError(RejectReason.BAD_TOPIC, str(exc)) from None
    if channel is Channel.CONFIG:
        raise WireError(RejectReason.BAD_TOPIC, "config flows from the cloud to devices, not back")
    message = decode(channel, payload)
    assert not isinstance(message, DeviceConfig)  # excluded by the channel check above
    if message.device_id != device_id:
        raise WireError(
            RejectReason.DEVICE_MISMATCH,
            f"topic names device {device_id!r}, payload names {message.device_id!r}",
        )
    return message


def _explain(exc: ValidationError) -> WireError:
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return WireError(RejectReason.SCHEMA, str(exc))
    first = errors[0]
    msg: str = first["msg"]
    if first["type"] == "json_invalid":
        return WireError(RejectReason.MALFORMED_JSON, msg)
    if first["loc"] == ("v",):
        return WireError(RejectReason.UNSUPPORTED_VERSION, msg)
    where = ".".join(str(part) for part in first["loc"]) or "payload"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return WireError(RejectReason.SCHEMA, f"{where}: {msg}{more}")
