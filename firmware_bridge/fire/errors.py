"""Errors raised by the fire adapters' pure functions.

Every error carries a ``reason``: a short, stable string that callers may count, log
and compare (the human-readable message may change, the reason does not).
"""

from __future__ import annotations

from enum import StrEnum


class DecodeError(ValueError):
    """Bytes or words from a fire device could not be turned into a typed value.

    Attributes:
        reason: Stable machine-readable cause (a member of a ``StrEnum``).
        detail: Human-readable explanation for logs.
    """

    def __init__(self, reason: StrEnum, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RegisterDecodeReason(StrEnum):
    """Why :func:`firmware_bridge.fire.modbus_map.decode_registers` rejected the words."""

    WRONG_COUNT = "wrong_count"
    WORD_OUT_OF_RANGE = "word_out_of_range"
    WRONG_DEVICE_TYPE = "wrong_device_type"
    UNSUPPORTED_MAP_VERSION = "unsupported_map_version"
    TEMPERATURE_OUT_OF_RANGE = "temperature_out_of_range"
    OBSCURATION_OUT_OF_RANGE = "obscuration_out_of_range"
    BATTERY_OUT_OF_RANGE = "battery_out_of_range"


class RegisterDecodeError(DecodeError):
    """A detector's register words are not a valid reading of our map."""

    reason: RegisterDecodeReason

    def __init__(self, reason: RegisterDecodeReason, detail: str) -> None:
        super().__init__(reason, detail)


class ParseReason(StrEnum):
    """Why :func:`firmware_bridge.fire.panel_parser.parse_line` rejected a line."""

    TOO_LONG = "too_long"
    GARBLED = "garbled"
    UNKNOWN_LINE = "unknown_line"
    MISSING_TIMESTAMP = "missing_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_EVENT = "unknown_event"


class ParseError(DecodeError):
    """A printer line is neither an event we understand nor a known non-event line."""

    reason: ParseReason

    def __init__(self, reason: ParseReason, detail: str) -> None:
        super().__init__(reason, detail)
