"""CRC-8/AUTOSAR, the stud frame's integrity check (why this one: STUD_FRAME.md).

Parameters as catalogued: width 8, polynomial 0x2F, init 0xFF, not reflected,
xor-out 0xFF; check value (CRC of ASCII "123456789") 0xDF."""

from __future__ import annotations

POLY = 0x2F
INIT = 0xFF
XOROUT = 0xFF


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


TABLE = _table()


def crc8(data: bytes, start: int = 0, end: int | None = None) -> int:
    """CRC-8/AUTOSAR of ``data[start:end]`` (offsets spare the caller a slice)."""
    table = TABLE
    crc = INIT
    # Iterating a slice beats indexing by offset in CPython; the slice is a few bytes.
    for byte in data[start:end]:
        crc = table[crc ^ byte]
    return crc ^ XOROUT
