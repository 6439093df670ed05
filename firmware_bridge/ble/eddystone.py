"""Eddystone-UID and unencrypted Eddystone-TLM: service data (AD type 0x16) of the
16-bit service UUID 0xFEAA, after Google's Eddystone protocol specification.

The AD data starts with the UUID, little-endian (AA FE), then the frame; within the frame
all multi-byte values are big-endian::

    UID  0 frame type 0x00 | 1 TX power at 0 m (int8) | 2-11 namespace | 12-17 instance
         | 18-19 RFU (0x00; older beacons leave them out: 18 or 20 bytes)
    TLM  0 frame type 0x20 | 1 version 0x00 | 2-3 battery mV | 4-5 temperature (signed
         8.8 fixed point, 0x8000 = not supported) | 6-9 PDU count | 10-13 time since boot
         in 0.1 s (14 bytes exactly)
"""

from __future__ import annotations

import struct

from firmware_bridge.ble.ad import AD_COMPLETE_16BIT_UUIDS, AD_SERVICE_DATA_16, ad_structure
from firmware_bridge.ble.readings import EddystoneTlm, EddystoneUid
from firmware_bridge.ble.skips import DecodeError, SkipReason

EDDYSTONE_UUID = 0xFEAA
FRAME_UID = 0x00
FRAME_TLM = 0x20
TLM_VERSION_PLAIN = 0x00
UID_SIZE = 20
UID_SIZE_WITHOUT_RFU = 18
TLM_SIZE = 14
TEMPERATURE_NOT_SUPPORTED = -0x8000  # 0x8000 read as a signed 16-bit value

UUID_LIST_AD = ad_structure(AD_COMPLETE_16BIT_UUIDS, b"\xaa\xfe")
"""The complete-list-of-16-bit-UUIDs AD structure every Eddystone advertisement carries."""

_UID = struct.Struct(">b10s6s")  # from frame offset 1
_TLM = struct.Struct(">HhII")  # from frame offset 2


def decode_eddystone(
    buf: bytes, start: int = 0, end: int | None = None
) -> EddystoneUid | EddystoneTlm:
    """Decode the service data AD data ``buf[start:end]`` as an Eddystone-UID or TLM frame.

    Raises :class:`DecodeError`: ``UNKNOWN_SERVICE`` (UUID not 0xFEAA), ``UNKNOWN_FRAME``
    (URL, EID, encrypted or future TLM), ``TRUNCATED`` / ``OVERLONG`` (wrong size, or too
    short for the UUID)."""
    if end is None:
        end = len(buf)
    size = end - start
    if size < 2:
        raise DecodeError(SkipReason.TRUNCATED, "service data without a UUID")
    if buf[start] | buf[start + 1] << 8 != EDDYSTONE_UUID:
        raise DecodeError(SkipReason.UNKNOWN_SERVICE, "service data not of 0xFEAA")
    if size < 3:
        raise DecodeError(SkipReason.TRUNCATED, "Eddystone service data without a frame")
    frame_type = buf[start + 2]
    frame_size = size - 2
    if frame_type == FRAME_UID:
        # RFU bytes are reserved for future use: we accept whatever they hold rather than
        # drop frames from a later revision that gives them a meaning.
        if frame_size in (UID_SIZE, UID_SIZE_WITHOUT_RFU):
            power, namespace, instance = _UID.unpack_from(buf, start + 3)
            return EddystoneUid(power, namespace, instance)
        reason = SkipReason.OVERLONG if frame_size > UID_SIZE else SkipReason.TRUNCATED
        raise DecodeError(reason, f"Eddystone-UID of {frame_size} bytes")
    if frame_type == FRAME_TLM:
        if frame_size < 2:
            raise DecodeError(SkipReason.TRUNCATED, "Eddystone-TLM without a version")
        if buf[start + 3] != TLM_VERSION_PLAIN:
            raise DecodeError(
                SkipReason.UNKNOWN_FRAME, f"Eddystone-TLM version 0x{buf[start + 3]:02x}"
            )
        if frame_size != TLM_SIZE:
            reason = SkipReason.OVERLONG if frame_size > TLM_SIZE else SkipReason.TRUNCATED
            raise DecodeError(reason, f"Eddystone-TLM of {frame_size} bytes")
        battery, temperature, adv_count, tenths = _TLM.unpack_from(buf, start + 4)
        return EddystoneTlm(
            battery or None,  # the spec's "not supported" is 0 mV
            None if temperature == TEMPERATURE_NOT_SUPPORTED else temperature / 256,
            adv_count,
            tenths / 10,
        )
    raise DecodeError(SkipReason.UNKNOWN_FRAME, f"Eddystone frame type 0x{frame_type:02x}")


def encode_eddystone_uid(uid: EddystoneUid, *, rfu: bool = True) -> bytes:
    """The service data AD structure of a UID frame (``rfu=False``: the older 18-byte
    frame without the reserved bytes)."""
    if len(uid.namespace) != 10 or len(uid.instance) != 6:
        raise ValueError("Eddystone-UID needs a 10-byte namespace and a 6-byte instance")
    frame = bytes((FRAME_UID,)) + _UID.pack(uid.tx_power_0m, uid.namespace, uid.instance)
    if rfu:
        frame += b"\x00\x00"
    return ad_structure(AD_SERVICE_DATA_16, b"\xaa\xfe" + frame)


def encode_eddystone_tlm(tlm: EddystoneTlm) -> bytes:
    """The service data AD structure of an unencrypted TLM frame. Temperatures are
    rounded to 1/256 °C and clamped to the 8.8 range; uptime is rounded to 0.1 s."""
    if tlm.temperature_c is None:
        temperature = TEMPERATURE_NOT_SUPPORTED
    else:
        temperature = max(-0x7FFF, min(0x7FFF, round(tlm.temperature_c * 256)))
    frame = bytes((FRAME_TLM, TLM_VERSION_PLAIN)) + _TLM.pack(
        tlm.battery_mv or 0, temperature, tlm.adv_count, round(tlm.uptime_s * 10)
    )
    return ad_structure(AD_SERVICE_DATA_16, b"\xaa\xfe" + frame)
