"""Our parking stud's status frame: manufacturer-specific data (AD type 0xFF) of company
id 0xFFFF. The layout, byte by byte, and the reasons for it are in STUD_FRAME.md."""

from __future__ import annotations

import struct

from firmware_bridge.ble.ad import AD_MANUFACTURER_DATA, ad_structure
from firmware_bridge.ble.crc8 import crc8
from firmware_bridge.ble.readings import AreaKind, StudStatus
from firmware_bridge.ble.skips import DecodeError, SkipReason

STUD_COMPANY_ID = 0xFFFF
"""The Bluetooth SIG's company id reserved for internal testing (see STUD_FRAME.md)."""
STUD_FRAME_VERSION = 1
AD_DATA_SIZE = 17
"""Company id (2) + version (1) + body (13) + CRC (1)."""
SEQ_MODULUS = 1 << 16
FIELD_FAULT = -0x8000
"""Field value the stud sends when its magnetometer is faulty (0x8000)."""

FLAG_OCCUPIED = 0x01
FLAG_TAMPER = 0x02
AREA_KIND_SHIFT = 2
AREA_KIND_MASK = 0x0C
RESERVED_FLAGS = 0xF0

# From AD data offset 2: version, stud id, area id, flags, field, battery, seq. Little-endian
# like the company id before it and the nRF52's own memory: the firmware copies, not swaps.
_BODY = struct.Struct("<BIHBhHH")
_CRC_START = 2
_CRC_AT = 16
_KINDS = (AreaKind.UNASSIGNED, AreaKind.BAY, AreaKind.NO_PARKING, None)


def decode_stud_status(buf: bytes, start: int = 0, end: int | None = None) -> StudStatus:
    """Decode the manufacturer AD data ``buf[start:end]`` as a stud status frame.

    Raises :class:`DecodeError`: ``UNKNOWN_COMPANY`` (not 0xFFFF), ``UNKNOWN_FRAME``
    (another version), ``TRUNCATED`` / ``OVERLONG`` (not 17 bytes, or too short for the
    company id), ``BAD_CRC``,
    ``MALFORMED`` (reserved flag bits set, area kind 3, an area id that does not fit the
    kind)."""
    if end is None:
        end = len(buf)
    size = end - start
    if size < 2:
        raise DecodeError(SkipReason.TRUNCATED, "manufacturer data without a company id")
    if buf[start] | buf[start + 1] << 8 != STUD_COMPANY_ID:
        raise DecodeError(SkipReason.UNKNOWN_COMPANY, "not company 0xFFFF")
    if size < 3:
        raise DecodeError(SkipReason.TRUNCATED, "stud frame without a version")
    # Version first: a longer frame from newer firmware is "unknown", not "overlong".
    if buf[start + 2] != STUD_FRAME_VERSION:
        raise DecodeError(SkipReason.UNKNOWN_FRAME, f"stud frame version {buf[start + 2]}")
    if size != AD_DATA_SIZE:
        reason = SkipReason.TRUNCATED if size < AD_DATA_SIZE else SkipReason.OVERLONG
        raise DecodeError(reason, f"stud frame of {size} bytes, want {AD_DATA_SIZE}")
    if crc8(buf, start + _CRC_START, start + _CRC_AT) != buf[start + _CRC_AT]:
        raise DecodeError(SkipReason.BAD_CRC, "stud frame CRC-8 mismatch")
    version, stud_id, area_id, flags, field, battery, seq = _BODY.unpack_from(buf, start + 2)
    kind = _KINDS[(flags & AREA_KIND_MASK) >> AREA_KIND_SHIFT]
    if flags & RESERVED_FLAGS or kind is None:
        raise DecodeError(SkipReason.MALFORMED, f"stud frame flags 0x{flags:02x}")
    if (area_id == 0) != (kind is AreaKind.UNASSIGNED):
        raise DecodeError(SkipReason.MALFORMED, f"area id {area_id} with kind {kind.name}")
    return StudStatus(
        stud_id,
        kind,
        area_id,
        bool(flags & FLAG_OCCUPIED),
        bool(flags & FLAG_TAMPER),
        None if field == FIELD_FAULT else field / 10,
        battery,
        seq,
        version,
    )


def encode_stud_status(status: StudStatus) -> bytes:
    """The whole AD structure (length, 0xFF, data) of a status frame, CRC included.

    ``field_ut`` is rounded to 0.1 µT and clamped to what 16 bits hold. Raises
    ``ValueError`` for values the layout cannot carry."""
    if status.version != STUD_FRAME_VERSION:
        raise ValueError(f"can only encode version {STUD_FRAME_VERSION}")
    if (status.area_id == 0) != (status.area_kind is AreaKind.UNASSIGNED):
        raise ValueError("area id 0 means unassigned, and only that")
    if status.field_ut is None:
        field = FIELD_FAULT
    else:
        field = max(-0x7FFF, min(0x7FFF, round(status.field_ut * 10)))
    flags = (
        (FLAG_OCCUPIED if status.occupied else 0)
        | (FLAG_TAMPER if status.tamper else 0)
        | int(status.area_kind) << AREA_KIND_SHIFT
    )
    try:
        body = _BODY.pack(
            status.version,
            status.stud_id,
            status.area_id,
            flags,
            field,
            status.battery_mv,
            status.seq,
        )
    except struct.error as exc:
        raise ValueError(f"stud status does not fit the frame: {exc}") from exc
    return ad_structure(AD_MANUFACTURER_DATA, b"\xff\xff" + body + bytes((crc8(body),)))


def seq_distance(previous: int, current: int) -> int:
    """How many frames ``current`` is after ``previous``, modulo the 16-bit wrap
    (1 = the next frame; 0 = a repeat; a large value may be a reboot or a lost hour)."""
    return (current - previous) % SEQ_MODULUS
