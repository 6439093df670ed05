"""The capture file: recorded advertisements, one a line, plain or compressed.

Format (version 1), UTF-8/ASCII text, optionally gzip (``.gz``) or xz (``.xz``)::

    # tianshan-ble-capture 1
    # t,addr,rssi,data
    12.345,D5:7B:00:00:00:2A,-71,02010412ffffff01…

- Lines starting with ``#`` are comments (the first names the format and version);
  blank lines are ignored.
- ``t``: seconds on the capture's clock (a decimal number; the generator writes ms).
- ``addr``: the advertiser's address, six hex pairs separated by colons.
- ``rssi``: dBm, an integer from -127 to 20.
- ``data``: the advertising payload (AD structures) as hex, possibly empty.

CSV rather than JSON Lines: a fifth of the size before compression and no escaping
questions, since no field can hold a comma."""

from __future__ import annotations

import gzip
import io
import lzma
import math
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import IO

from firmware_bridge.ble.source import AdvertisementRecord

MAGIC = "# tianshan-ble-capture 1"
HEADER = f"{MAGIC}\n# t,addr,rssi,data\n"


class LineError(StrEnum):
    """Why a capture line was not a record (a counter name in the replay source)."""

    FIELDS = "corrupt_fields"
    """Not four comma-separated fields."""
    TIME = "corrupt_time"
    """``t`` is not a finite number."""
    ADDRESS = "corrupt_address"
    """``addr`` is not six hex pairs with colons."""
    RSSI = "corrupt_rssi"
    """``rssi`` is not an integer in -127…20."""
    DATA = "corrupt_data"
    """``data`` is not hex."""


class CaptureLineError(ValueError):
    """A line that is not a record; ``reason`` says which field."""

    def __init__(self, reason: LineError, line: str) -> None:
        super().__init__(f"{reason.value}: {line[:80]!r}")
        self.reason = reason


_HEX = frozenset("0123456789ABCDEFabcdef")


def _is_address(addr: str) -> bool:
    if len(addr) != 17:
        return False
    for k in range(17):
        c = addr[k]
        if (k % 3 == 2 and c != ":") or (k % 3 != 2 and c not in _HEX):
            return False
    return True


def parse_line(line: str) -> AdvertisementRecord:
    """One non-comment line to a record. Raises :class:`CaptureLineError`."""
    parts = line.rstrip("\r\n").split(",")
    if len(parts) != 4:
        raise CaptureLineError(LineError.FIELDS, line)
    t_text, addr, rssi_text, hex_data = parts
    try:
        t = float(t_text)
    except ValueError:
        raise CaptureLineError(LineError.TIME, line) from None
    if not math.isfinite(t):  # NaN and infinities cannot be paced
        raise CaptureLineError(LineError.TIME, line)
    if not _is_address(addr):
        raise CaptureLineError(LineError.ADDRESS, line)
    try:
        rssi = int(rssi_text)
    except ValueError:
        raise CaptureLineError(LineError.RSSI, line) from None
    if not -127 <= rssi <= 20:
        raise CaptureLineError(LineError.RSSI, line)
    try:
        data = bytes.fromhex(hex_data)
    except ValueError:
        raise CaptureLineError(LineError.DATA, line) from None
    return AdvertisementRecord(t, addr.upper(), rssi, data)


def format_line(record: AdvertisementRecord) -> str:
    """One record as a line (with its newline); ``t`` to the millisecond."""
    return f"{record.t:.3f},{record.address},{record.rssi},{record.data.hex()}\n"


def open_text(path: Path, mode: str = "r") -> IO[str]:
    """Open a capture for text reading (``"r"``) or writing (``"w"``), by its suffix:
    ``.gz`` gzip, ``.xz`` xz, anything else plain. Reading replaces bytes that are not
    UTF-8 (the line then fails to parse and is counted), rather than stopping."""
    if mode not in ("r", "w"):
        raise ValueError(f"mode {mode!r}")
    # The wrapper returned owns the binary file and closes it: no context manager here.
    raw: io.BufferedIOBase
    if path.suffix == ".gz" and mode == "w":
        # mtime 0 in the gzip header (it holds only the base name besides): the same
        # records give the same bytes, wherever and whenever they are written.
        raw = gzip.GzipFile(path, "wb", mtime=0)
    elif path.suffix == ".gz":
        raw = gzip.GzipFile(path, "rb")
    elif path.suffix == ".xz":
        raw = lzma.LZMAFile(path, mode)  # noqa: SIM115
    else:
        raw = path.open("wb") if mode == "w" else path.open("rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")


def write_capture(
    path: Path, records: Iterable[AdvertisementRecord], *, extra_lines: Iterable[str] = ()
) -> int:
    """Write a capture file; returns the number of records. ``extra_lines`` are written
    verbatim after the header (the generator plants its deliberately corrupt lines so)."""
    count = 0
    with open_text(path, "w") as out:
        out.write(HEADER)
        for line in extra_lines:
            out.write(line if line.endswith("\n") else line + "\n")
        for record in records:
            out.write(format_line(record))
            count += 1
    return count
