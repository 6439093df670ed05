"""The edge↔cloud contract: topics, payload models, limits and codec.

Both sides import this package and nothing else of each other.
"""

from wire.codec import (
    PayloadTooLarge,
    RejectReason,
    WireError,
    decode,
    decode_as,
    decode_device_message,
    encode,
)
from wire.limits import MAX_PAYLOAD_BYTES, MAX_READINGS_PER_MESSAGE, SCHEMA_VERSION
from wire.messages import (
    ConfigAck,
    DeviceConfig,
    DeviceMessage,
    Envelope,
    Event,
    OutboxStats,
    Reading,
    Severity,
    State,
    Status,
    Telemetry,
    WireMessage,
    new_message_id,
    now_us,
)
from wire.topics import (
    DEVICE_TO_CLOUD,
    Channel,
    TopicError,
    device_topic,
    is_valid_device_id,
    parse_topic,
    subscription,
)

__all__ = [
    "DEVICE_TO_CLOUD",
    "MAX_PAYLOAD_BYTES",
    "MAX_READINGS_PER_MESSAGE",
    "SCHEMA_VERSION",
    "Channel",
    "ConfigAck",
    "DeviceConfig",
    "DeviceMessage",
    "Envelope",
    "Event",
    "OutboxStats",
    "PayloadTooLarge",
    "Reading",
    "RejectReason",
    "Severity",
    "State",
    "Status",
    "Telemetry",
    "TopicError",
    "WireError",
    "WireMessage",
    "decode",
    "decode_as",
    "decode_device_message",
    "device_topic",
    "encode",
    "is_valid_device_id",
    "new_message_id",
    "now_us",
    "parse_topic",
    "subscription",
]
