"""Topic names of the edge↔cloud contract: ``tianshan/v1/dev/{device_id}/{channel}``."""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import NamedTuple

TOPIC_ROOT = "tianshan/v1/dev"

# Device ids become MQTT topic levels, InfluxDB tag values and SQL keys, so they are
# restricted to characters that are safe in all three (no "/", "+", "#", spaces).
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)


class Channel(StrEnum):
    """What a message on a device's topic carries."""

    TELEMETRY = "telemetry"  # device → cloud: a batch of readings
    EVENT = "event"  # device → cloud: one event (alarm, transaction, trouble…)
    STATE = "state"  # device → cloud: heartbeat and agent health
    STATUS = "status"  # device → cloud, retained: online, or offline as the last will
    CONFIG = "config"  # cloud → device, retained: the versioned config
    CONFIG_ACK = "config/ack"  # device → cloud: which config version the device runs


# Channels the cloud ingest subscribes to (everything a device sends).
DEVICE_TO_CLOUD: tuple[Channel, ...] = (
    Channel.TELEMETRY,
    Channel.EVENT,
    Channel.STATE,
    Channel.STATUS,
    Channel.CONFIG_ACK,
)


class TopicError(ValueError):
    """A topic that is not a valid Tianshan device topic."""


class DeviceTopic(NamedTuple):
    device_id: str
    channel: Channel


def is_valid_device_id(device_id: str) -> bool:
    return _DEVICE_ID_RE.fullmatch(device_id) is not None


def device_topic(device_id: str, channel: Channel) -> str:
    """The topic a device publishes ``channel`` on (or receives it, for config)."""
    if not is_valid_device_id(device_id):
        raise TopicError(f"invalid device id {device_id!r}: must match {DEVICE_ID_PATTERN}")
    return f"{TOPIC_ROOT}/{device_id}/{channel.value}"


def subscription(channel: Channel, *, share_group: str | None = None) -> str:
    """The wildcard subscription for ``channel`` of every device.

    With ``share_group``, an MQTT v5 shared subscription: the broker hands each
    message to one member of the group, so several ingest workers split the load.
    """
    topic = f"{TOPIC_ROOT}/+/{channel.value}"
    return f"$share/{share_group}/{topic}" if share_group else topic


_PREFIX = TOPIC_ROOT + "/"
_CHANNELS = {c.value: c for c in Channel}


@functools.lru_cache(maxsize=65536)
def parse_topic(topic: str) -> DeviceTopic:
    """Split a device topic into device id and channel, or raise :class:`TopicError`.

    Cached: a fleet publishes on a bounded set of topics, and the ingest asks for each
    message (errors are not cached, so hostile topics cannot fill the cache)."""
    if not topic.startswith(_PREFIX):
        raise TopicError(f"topic {topic[:120]!r} is outside {TOPIC_ROOT}/")
    device_id, sep, rest = topic[len(_PREFIX) :].partition("/")
    if not sep:
        raise TopicError(f"topic {topic[:120]!r} has no channel")
    if not is_valid_device_id(device_id):
        raise TopicError(f"topic {topic[:120]!r} has an invalid device id")
    channel = _CHANNELS.get(rest)
    if channel is None:
        raise TopicError(f"topic {topic[:120]!r} has unknown channel {rest[:40]!r}")
    return DeviceTopic(device_id, channel)
