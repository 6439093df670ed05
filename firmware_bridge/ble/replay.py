"""Replay a capture file (format: ``capture_file``) as an :class:`AdvertisementSource`,
at the recorded pace, faster by a factor, or as fast as it reads."""

from __future__ import annotations

import logging
import lzma
import math
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from firmware_bridge.ble.capture_file import CaptureLineError, LineError, open_text, parse_line
from firmware_bridge.ble.source import AdvertisementRecord

log = logging.getLogger(__name__)


class ReplaySource:
    """Records of a capture file in file order, each at its recorded time.

    ``speed`` is how many capture seconds pass per real second: 1 is the recorded pace,
    60 plays an hour in a minute, ``None`` (or ``math.inf``) plays as fast as the file
    reads. Pacing is anchored at the first record, so sleeping late never accumulates
    drift. Records keep their capture time in ``t``.

    A corrupt line is counted by reason (``corrupt_*`` counters, see
    :class:`~firmware_bridge.ble.capture_file.LineError`) and skipped; a file that stops
    being readable (cut-off gzip…) counts ``unreadable`` and ends the replay.

    ``clock`` and ``sleep`` are there for tests; by default the monotonic clock and a
    wait that :meth:`close` interrupts."""

    def __init__(
        self,
        path: Path,
        *,
        speed: float | None = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be positive or None, not {speed}")
        if not path.is_file():
            raise FileNotFoundError(f"capture {path} does not exist")
        self._path = path
        self._speed = None if speed is None or math.isinf(speed) else speed
        self._clock = clock
        self._closed = threading.Event()
        self._sleep = sleep if sleep is not None else self._closed.wait
        self._pending: float | None = None
        self._counts: dict[str, int] = {
            "lines": 0,
            "records": 0,
            "out_of_order": 0,
            "unreadable": 0,
            **dict.fromkeys(LineError, 0),
        }

    def records(self) -> Iterator[AdvertisementRecord]:
        """The file's records, paced; ends at the end of the file or on :meth:`close`."""
        counts = self._counts
        speed = self._speed
        anchor_wall = anchor_t = last_t = 0.0
        first = True
        with open_text(self._path) as lines:
            try:
                for line in lines:
                    if self._closed.is_set():
                        return
                    counts["lines"] += 1
                    if not line.strip() or line.startswith("#"):
                        continue
                    try:
                        record = parse_line(line)
                    except CaptureLineError as exc:
                        counts[exc.reason] += 1
                        continue
                    if first:
                        first = False
                        anchor_wall, anchor_t, last_t = self._clock(), record.t, record.t
                    elif record.t < last_t:
                        counts["out_of_order"] += 1  # played at once, not waited for
                    else:
                        last_t = record.t
                    self._pending = record.t
                    if speed is not None:
                        delay = anchor_wall + (record.t - anchor_t) / speed - self._clock()
                        if delay > 0:
                            self._sleep(delay)
                            if self._closed.is_set():
                                return
                    counts["records"] += 1
                    yield record
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                counts["unreadable"] += 1
                log.warning(
                    "capture %s unreadable after line %d: %s", self._path, counts["lines"], exc
                )

    def horizon(self) -> float | None:
        """The time of the record the replay is waiting to hand out, or handed out last
        (``None`` before the first): the reader is not past it until it asks for the next,
        so a clock running between records may reach it, never pass it."""
        return self._pending

    def counters(self) -> dict[str, int]:
        """``lines``, ``records``, ``out_of_order``, ``unreadable`` and one
        ``corrupt_*`` count per :class:`LineError`."""
        return {str(name): n for name, n in self._counts.items()}

    def close(self) -> None:
        """End the replay at the next record (a pending wait returns at once)."""
        self._closed.set()
