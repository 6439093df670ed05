"""Read a fire alarm panel's printer port (RS-232) and yield its events.

The port is opened with pyserial's ``serial_for_url``, so a device path, a
``/dev/serial/by-id/...`` link, a pty or any pyserial URL works. When the port
disappears (USB adapter unplugged, cable pulled on a USB-serial converter) it is
reopened every ``reopen_interval_s`` until it is back; lines that cannot be read
are counted by reason and skipped. Nothing raises out of :meth:`SerialPanelSource.events`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

import serial

from firmware_bridge.fire.counters import Tally
from firmware_bridge.fire.errors import ParseError, ParseReason
from firmware_bridge.fire.panel_parser import MAX_LINE_LENGTH, PanelEvent, parse_line

log = logging.getLogger(__name__)


class LineEnding(StrEnum):
    """How the panel ends its lines."""

    AUTO = "auto"
    """CR, LF or CR LF, whichever comes: right for nearly every panel."""
    CRLF = "crlf"
    LF = "lf"
    CR = "cr"


_SEPARATOR = {
    LineEnding.AUTO: re.compile(rb"\r\n|\r|\n"),
    LineEnding.CRLF: re.compile(rb"\r\n"),
    LineEnding.LF: re.compile(rb"\n"),
    LineEnding.CR: re.compile(rb"\r"),
}


class LineSplitter:
    """Cuts a byte stream into lines, whatever the chunking.

    A line is delivered as soon as its ending arrives (an alarm line is never held
    back waiting for the next one). A line longer than ``max_length`` is delivered
    as its first ``max_length + 1`` bytes, so that the parser rejects it as
    ``too_long``, and the rest up to the next line ending is dropped.

    Args:
        line_ending: Which byte sequences end a line.
        max_length: Longest line in bytes.
    """

    def __init__(
        self, line_ending: LineEnding = LineEnding.AUTO, *, max_length: int = MAX_LINE_LENGTH
    ) -> None:
        self._separator = _SEPARATOR[line_ending]
        self._auto = line_ending is LineEnding.AUTO
        self._max = max_length
        self._buffer = b""
        self._discarding = False
        # AUTO ends a line at a CR at once; an LF right after it is the same ending.
        self._skip_lf = False

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes.

        Args:
            data: Bytes as read from the port, any chunk size.

        Returns:
            The lines completed by ``data``, without their endings.
        """
        if self._skip_lf and data.startswith(b"\n"):
            data = data[1:]
        if data:
            self._skip_lf = False
        buffer = self._buffer + data
        lines: list[bytes] = []
        position = 0
        for match in self._separator.finditer(buffer):
            if self._discarding:
                self._discarding = False
            else:
                lines.append(buffer[position : match.start()])
            position = match.end()
            if self._auto and match.group() == b"\r" and position == len(buffer):
                self._skip_lf = True
        rest = buffer[position:]
        if self._discarding:
            rest = b""
        elif len(rest) > self._max:
            lines.append(rest[: self._max + 1])
            rest = b""
            self._discarding = True
        self._buffer = rest
        return lines

    def reset(self) -> bytes:
        """Forget the partial line (the port closed mid-line); returns what was dropped."""
        dropped, self._buffer = self._buffer, b""
        self._discarding = self._skip_lf = False
        return dropped


@dataclass(frozen=True, slots=True)
class PanelPortSettings:
    """Where and how to read the panel's printer port.

    Attributes:
        url: Device path or pyserial URL.
        baudrate: Most panels print at 9600 (some 2400 or 4800).
        bytesize: Data bits.
        parity: ``"N"``, ``"E"``, ``"O"``, ``"M"`` or ``"S"``.
        stopbits: Stop bits.
        line_ending: How lines end.
        encoding: The panel's text encoding, or None to detect per line
            (UTF-8, else GB18030; see :func:`~firmware_bridge.fire.panel_parser.decode_line`).
        read_timeout_s: Longest a read blocks: how quickly ``stop`` is noticed.
        reopen_interval_s: Wait between attempts to open a missing port.
    """

    url: str
    baudrate: int = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: Literal[1, 2] = 1
    line_ending: LineEnding = LineEnding.AUTO
    encoding: str | None = None
    read_timeout_s: float = 0.2
    reopen_interval_s: float = 2.0


class PanelCounters:
    """What a panel source has seen since it was made; safe to read from any thread.

    Attributes:
        garbage: Rejected lines by :class:`~firmware_bridge.fire.errors.ParseReason`.
    """

    def __init__(self) -> None:
        self.garbage: Tally[ParseReason] = Tally()
        self._other: Tally[str] = Tally()

    def count(
        self,
        what: Literal[
            "bytes", "lines", "events", "damaged", "ignored", "opens", "port_errors", "cut_lines"
        ],
        n: int = 1,
    ) -> None:
        """Count ``n`` more of ``what``."""
        self._other.add(what, n)

    @property
    def bytes_received(self) -> int:
        """Bytes read from the port: none at all points at wiring, not at the format."""
        return self._other["bytes"]

    @property
    def lines(self) -> int:
        """Lines received (events, ignored and garbage)."""
        return self._other["lines"]

    @property
    def events(self) -> int:
        """Lines that were events."""
        return self._other["events"]

    @property
    def damaged(self) -> int:
        """Events read from damaged lines (see ``PanelEvent.damaged``)."""
        return self._other["damaged"]

    @property
    def ignored(self) -> int:
        """Lines that are not events (headers, blank lines, status lines)."""
        return self._other["ignored"]

    @property
    def opens(self) -> int:
        """Times the port was opened."""
        return self._other["opens"]

    @property
    def port_errors(self) -> int:
        """Failed opens and lost ports."""
        return self._other["port_errors"]

    @property
    def cut_lines(self) -> int:
        """Partial lines dropped because the port went away mid-line."""
        return self._other["cut_lines"]

    def snapshot(self) -> dict[str, int]:
        """All counts, garbage as ``garbage.<reason>``: for metrics and logs."""
        counts = {
            name: self._other[name]
            for name in (
                "bytes",
                "lines",
                "events",
                "damaged",
                "ignored",
                "opens",
                "port_errors",
                "cut_lines",
            )
        }
        for reason, n in self.garbage.snapshot().items():
            counts[f"garbage.{reason}"] = n
        return counts


class PanelSource(Protocol):
    """Something that yields a fire panel's events: what the edge agent consumes."""

    @property
    def counters(self) -> PanelCounters:
        """Counts of lines, events, ignored lines, garbage by reason, port trouble."""
        ...

    def events(self, stop: threading.Event) -> Iterator[PanelEvent]:
        """Yield events in the order printed until ``stop`` is set; never raises."""
        ...

    def close(self) -> None:
        """Release the port."""
        ...


# pyserial reports a vanished device as SerialException (an OSError), bad settings as
# ValueError, and lets termios.error (not an OSError) out of tcsetattr when the port
# refuses its settings.
_PORT_ERRORS = (serial.SerialException, OSError, ValueError, termios.error)


class SerialPanelSource:
    """Reads printer lines from a serial port and yields the events among them.

    Use :meth:`events` from one thread; :attr:`counters` may be read from any thread.

    Args:
        settings: Port, line format and timing.
    """

    def __init__(self, settings: PanelPortSettings) -> None:
        self.settings = settings
        self._splitter = LineSplitter(settings.line_ending)
        self._counters = PanelCounters()
        self._port: Any = None
        self._warned_garbage = False
        self._port_was_ok = True

    @property
    def counters(self) -> PanelCounters:
        """Counts of lines, events, ignored lines, garbage by reason, port trouble."""
        return self._counters

    @property
    def is_open(self) -> bool:
        """Whether the port is open right now."""
        return self._port is not None

    def events(self, stop: threading.Event) -> Iterator[PanelEvent]:
        """Read until ``stop`` is set, opening and reopening the port as needed.

        Args:
            stop: Set it (from any thread) to end the iteration within about
                ``read_timeout_s`` (or ``reopen_interval_s`` while the port is missing).

        Yields:
            Events in the order the panel printed them, with ``received_at`` set.
            Never raises; the port is closed when the iteration ends.
        """
        try:
            while not stop.is_set():
                port = self._port if self._port is not None else self._open(stop)
                if port is None:
                    continue
                try:
                    data = port.read(1)
                    if data and port.in_waiting:
                        data += port.read(port.in_waiting)
                except _PORT_ERRORS as exc:
                    self._lost(exc)
                    continue
                if not data:
                    continue
                self._counters.count("bytes", len(data))
                received_at = datetime.now(UTC)
                for raw in self._splitter.feed(data):
                    event = self._handle(raw)
                    if event is not None:
                        yield dataclasses.replace(event, received_at=received_at)
        finally:
            self.close()

    def close(self) -> None:
        """Close the port (a later :meth:`events` reopens it)."""
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except _PORT_ERRORS:
                log.debug("closing %s failed", self.settings.url, exc_info=True)
        if self._splitter.reset():
            self._counters.count("cut_lines")

    def _open(self, stop: threading.Event) -> Any:
        s = self.settings
        try:
            port = serial.serial_for_url(
                s.url,
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
                timeout=s.read_timeout_s,
                exclusive=True,
            )
        except _PORT_ERRORS as exc:
            self._counters.count("port_errors")
            if self._port_was_ok:
                log.warning("panel port %s cannot be opened: %s", s.url, exc)
            self._port_was_ok = False
            stop.wait(s.reopen_interval_s)
            return None
        self._port = port
        self._port_was_ok = True
        self._warned_garbage = False
        self._counters.count("opens")
        log.info("panel port %s open", s.url)
        return port

    def _lost(self, exc: BaseException) -> None:
        log.warning("panel port %s lost: %s", self.settings.url, exc)
        self._counters.count("port_errors")
        self.close()

    def _handle(self, raw: bytes) -> PanelEvent | None:
        self._counters.count("lines")
        try:
            event = parse_line(raw, encoding=self.settings.encoding)
        except ParseError as exc:
            self._skip(exc)
            return None
        except Exception:
            # A parser bug must not stop alarms from flowing: log it loudly, count the
            # line as unreadable, read on.
            log.exception("panel port %s: parser failed on %r", self.settings.url, raw[:80])
            self._counters.garbage.add(ParseReason.UNKNOWN_LINE)
            return None
        if event is None:
            self._counters.count("ignored")
            return None
        self._counters.count("events")
        if event.damaged:
            self._counters.count("damaged")
        return event

    def _skip(self, exc: ParseError) -> None:
        self._counters.garbage.add(exc.reason)
        # One warning per opening (a wrong baud rate makes every line garbage).
        if not self._warned_garbage:
            log.warning("panel port %s: skipping unreadable line: %s", self.settings.url, exc)
            self._warned_garbage = True
        else:
            log.debug("panel port %s: skipping unreadable line: %s", self.settings.url, exc)
