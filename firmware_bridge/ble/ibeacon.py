"""Apple iBeacon: manufacturer-specific data (AD type 0xFF) of company 0x004C.

Layout of the AD data (after the AD length and type bytes), as Apple publishes it::

    0-1   company id 0x004C, little-endian (4C 00)
    2     iBeacon type 0x02
    3     iBeacon length 0x15 (21 bytes follow)
    4-19  proximity UUID
    20-21 major, big-endian
    22-23 minor, big-endian
    24    measured power: RSSI at 1 m, signed dBm
"""

from __future__ import annotations

import struct
from uuid import UUID

from firmware_bridge.ble.ad import AD_MANUFACTURER_DATA, ad_structure
from firmware_bridge.ble.readings import IBeacon
from firmware_bridge.ble.skips import DecodeError, SkipReason

APPLE_COMPANY_ID = 0x004C
IBEACON_TYPE = 0x02
IBEACON_LENGTH = 0x15
AD_DATA_SIZE = 25

_BODY = struct.Struct(">16sHHb")  # from offset 4: UUID, major, minor, measured power
_UUIDS: dict[bytes, UUID] = {}  # a site has a handful of proximity UUIDs: build each once
_UUID_CACHE_MAX = 1024


def _uuid(raw: bytes) -> UUID:
    uuid = _UUIDS.get(raw)
    if uuid is None:
        if len(_UUIDS) >= _UUID_CACHE_MAX:  # someone sends random UUIDs: stay bounded
            _UUIDS.clear()
        uuid = _UUIDS[raw] = UUID(bytes=raw)
    return uuid


def decode_ibeacon(buf: bytes, start: int = 0, end: int | None = None) -> IBeacon:
    """Decode the manufacturer AD data ``buf[start:end]`` as an iBeacon.

    Raises :class:`DecodeError`: ``UNKNOWN_COMPANY`` (not Apple), ``UNKNOWN_FRAME`` (an
    Apple frame of another type), ``MALFORMED`` (iBeacon length byte not 0x15),
    ``TRUNCATED`` / ``OVERLONG`` (not 25 bytes, or too short for the company id)."""
    if end is None:
        end = len(buf)
    size = end - start
    if size < 2:
        raise DecodeError(SkipReason.TRUNCATED, "manufacturer data without a company id")
    if buf[start] | buf[start + 1] << 8 != APPLE_COMPANY_ID:
        raise DecodeError(SkipReason.UNKNOWN_COMPANY, "not Apple manufacturer data")
    if size < 3:
        raise DecodeError(SkipReason.TRUNCATED, "Apple data without a type")
    if buf[start + 2] != IBEACON_TYPE:
        raise DecodeError(SkipReason.UNKNOWN_FRAME, f"Apple type 0x{buf[start + 2]:02x}")
    if size < 4:
        raise DecodeError(SkipReason.TRUNCATED, "iBeacon without its length byte")
    if buf[start + 3] != IBEACON_LENGTH:
        raise DecodeError(SkipReason.MALFORMED, f"iBeacon length byte 0x{buf[start + 3]:02x}")
    if size != AD_DATA_SIZE:
        reason = SkipReason.TRUNCATED if size < AD_DATA_SIZE else SkipReason.OVERLONG
        raise DecodeError(reason, f"iBeacon of {size} bytes, want {AD_DATA_SIZE}")
    raw_uuid, major, minor, power = _BODY.unpack_from(buf, start + 4)
    return IBeacon(_uuid(raw_uuid), major, minor, power)


def encode_ibeacon(beacon: IBeacon) -> bytes:
    """The whole AD structure (length, 0xFF, data) that :func:`decode_ibeacon` reads back."""
    body = bytes((0x4C, 0x00, IBEACON_TYPE, IBEACON_LENGTH)) + _BODY.pack(
        beacon.uuid.bytes, beacon.major, beacon.minor, beacon.measured_power
    )
    return ad_structure(AD_MANUFACTURER_DATA, body)
