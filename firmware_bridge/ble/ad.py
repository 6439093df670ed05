"""AD structures: the ``length, type, data`` records an advertising payload is made of
(Bluetooth Core Specification, Vol 3, Part C, §11), and the AD type numbers we use."""

from __future__ import annotations

from firmware_bridge.ble.skips import DecodeError, SkipReason

AD_FLAGS = 0x01
AD_COMPLETE_16BIT_UUIDS = 0x03
AD_COMPLETE_LOCAL_NAME = 0x09
AD_TX_POWER = 0x0A
AD_SERVICE_DATA_16 = 0x16
AD_SERVICE_DATA_32 = 0x20
AD_SERVICE_DATA_128 = 0x21
AD_MANUFACTURER_DATA = 0xFF

HOUSEKEEPING_AD_TYPES = frozenset(
    {
        AD_FLAGS,
        0x02,  # incomplete list of 16-bit service UUIDs
        AD_COMPLETE_16BIT_UUIDS,
        0x04,  # incomplete list of 32-bit service UUIDs
        0x05,  # complete list of 32-bit service UUIDs
        0x06,  # incomplete list of 128-bit service UUIDs
        0x07,  # complete list of 128-bit service UUIDs
        0x08,  # shortened local name
        AD_COMPLETE_LOCAL_NAME,
        AD_TX_POWER,
        0x0D,  # class of device
        0x12,  # peripheral connection interval range
        0x14,  # 16-bit service solicitation UUIDs
        0x15,  # 128-bit service solicitation UUIDs
        0x19,  # appearance
        0x1A,  # advertising interval
        0x1B,  # LE Bluetooth device address
        0x1C,  # LE role
        0x1F,  # 32-bit service solicitation UUIDs
    }
)
"""AD types that carry no frame for us but are normal in beacons' advertisements: the
entry point passes over them without counting a skip (they are not unknown)."""

FLAGS_LE_ONLY = bytes((0x02, AD_FLAGS, 0x04))
"""A flags AD structure: BR/EDR not supported, not discoverable (a pure broadcaster)."""


def ad_structure(ad_type: int, data: bytes) -> bytes:
    """One AD structure: length (type + data), type, data. Raises ``ValueError`` when the
    data does not fit the one-byte length."""
    if not 0 <= ad_type <= 0xFF:
        raise ValueError(f"AD type {ad_type} is not a byte")
    if len(data) > 254:
        raise ValueError(f"AD data of {len(data)} bytes does not fit one AD structure")
    return bytes((len(data) + 1, ad_type)) + data


def parse_ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    """Split an advertising payload into ``(AD type, AD data)`` pairs, strictly.

    A zero length byte ends the significant part (the rest is padding, as controllers
    report legacy payloads padded to 31 bytes). Raises :class:`DecodeError` with
    ``AD_TRUNCATED`` when a length points past the end."""
    out: list[tuple[int, bytes]] = []
    i = 0
    n = len(data)
    while i < n:
        length = data[i]
        if length == 0:
            break
        end = i + 1 + length
        if end > n:
            raise DecodeError(
                SkipReason.AD_TRUNCATED,
                f"AD structure at offset {i} claims {length} bytes, {n - i - 1} remain",
            )
        out.append((data[i + 1], data[i + 2 : end]))
        i = end
    return out
