"""Payload models of every channel. The edge serialises and the cloud validates with these."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from wire.limits import (
    MAX_READINGS_PER_MESSAGE,
    MAX_REASON_CHARS,
    MAX_TAGS_PER_READING,
    MAX_TIMESTAMP_US,
    SCHEMA_VERSION,
)
from wire.topics import DEVICE_ID_PATTERN, Channel

DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
MessageId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
TimestampUs = Annotated[int, Field(ge=0, le=MAX_TIMESTAMP_US)]
# Field and tag names end up as InfluxDB keys and in InfluxQL queries, so they are
# plain identifiers; tag values are short and printable.
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
_RESERVED_TAG_KEYS = frozenset({"device", "time"})


def _not_reserved(key: str) -> str:
    if key in _RESERVED_TAG_KEYS:
        raise ValueError(f"tag key {key!r} is reserved")
    return key


TagKey = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$"), AfterValidator(_not_reserved)
]
TagValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,3}$")]
ShortText = Annotated[str, StringConstraints(max_length=MAX_REASON_CHARS)]


def now_us() -> int:
    """Wall-clock time in integer microseconds since the epoch, the contract's time unit."""
    return time.time_ns() // 1000


def new_message_id() -> str:
    return uuid.uuid4().hex


class _WireModel(BaseModel):
    # strict: "1.5" is not a number and 1 is not true; forbid: unknown fields are an
    # error (a new field means a new schema version); frozen: messages are values.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Envelope(_WireModel):
    """What every device-to-cloud stream message carries."""

    channel: ClassVar[Channel]

    v: Literal[1] = SCHEMA_VERSION
    msg_id: MessageId = Field(default_factory=new_message_id)
    device_id: DeviceId
    seq: int = Field(ge=0, description="Per-device sequence number, +1 per message")
    ts: TimestampUs = Field(default_factory=now_us, description="Device time, µs since epoch")


class Reading(_WireModel):
    """One value of one field at one instant."""

    ts: TimestampUs
    field: FieldName
    value: float = Field(allow_inf_nan=False)
    tags: dict[TagKey, TagValue] | None = Field(default=None, max_length=MAX_TAGS_PER_READING)


class Telemetry(Envelope):
    """A batch of readings (batched at the edge: the MQTT client is the bottleneck)."""

    channel: ClassVar[Channel] = Channel.TELEMETRY

    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Event(Envelope):
    """One thing that happened: an alarm, a trouble, a checkout transaction. Sent alone."""

    channel: ClassVar[Channel] = Channel.EVENT

    type: EventType
    severity: Severity = Severity.INFO
    source: TagValue | None = Field(default=None, description="Sub-device, e.g. a detector id")
    data: dict[str, JsonValue] = Field(default_factory=dict)


class OutboxStats(_WireModel):
    depth: dict[str, int] = Field(default_factory=dict, description="Messages waiting, per lane")
    bytes: int = Field(ge=0, default=0)
    dropped_messages: int = Field(ge=0, default=0)
    dropped_readings: int = Field(ge=0, default=0)


class State(Envelope):
    """Heartbeat: the agent is alive, and how it is doing."""

    channel: ClassVar[Channel] = Channel.STATE

    uptime_s: float = Field(ge=0)
    heartbeat_interval_s: float = Field(gt=0)
    software: ShortText
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = "generic"
    site: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")] | None = None
    config_version: int | None = None
    outbox: OutboxStats = Field(default_factory=OutboxStats)


class Status(_WireModel):
    """Retained presence: ``online`` on connect, ``offline`` as the last will.

    Not an :class:`Envelope`: the will is fixed when the connection opens, so it has no
    meaningful sequence number. ``session`` ties an offline will to the connection
    that set it, so a late will of an old connection cannot mark a newer one offline.
    """

    channel: ClassVar[Channel] = Channel.STATUS

    v: Literal[1] = SCHEMA_VERSION
    device_id: DeviceId
    state: Literal["online", "offline"]
    session: MessageId
    since: TimestampUs = Field(description="When this connection was opened (device time)")


class DeviceConfig(_WireModel):
    """Cloud → device, retained: the config a device should run. Sections are opaque here;
    the edge validates them against its own typed models and acknowledges."""

    channel: ClassVar[Channel] = Channel.CONFIG

    v: Literal[1] = SCHEMA_VERSION
    device_id: DeviceId
    version: int = Field(ge=1)
    issued_ts: TimestampUs = Field(default_factory=now_us)
    settings: dict[str, JsonValue] = Field(default_factory=dict)


class ConfigAck(Envelope):
    """Device → cloud: the config version the device now runs, or why it refused one."""

    channel: ClassVar[Channel] = Channel.CONFIG_ACK

    version: int = Field(ge=1)
    result: Literal["applied", "rejected"]
    reason: ShortText | None = None


DeviceMessage = Telemetry | Event | State | Status | ConfigAck
WireMessage = DeviceMessage | DeviceConfig

MODEL_FOR_CHANNEL: dict[Channel, type[WireMessage]] = {
    Channel.TELEMETRY: Telemetry,
    Channel.EVENT: Event,
    Channel.STATE: State,
    Channel.STATUS: Status,
    Channel.CONFIG: DeviceConfig,
    Channel.CONFIG_ACK: ConfigAck,
}
