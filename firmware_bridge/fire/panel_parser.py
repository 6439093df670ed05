"""Parse the lines a fire alarm control panel prints on its RS-232 printer port.

The format is documented for installers in ``PANEL_LINES.md`` next to this module.
In short, one event per line::

    [#seq] YYYY-MM-DD HH:MM[:SS] EVENT [Z<zone>] [L<loop>-<address>] [label…]

``EVENT`` is ALARM, TROUBLE, SUPERVISORY, RESTORE [kind] (or ``<kind> RESTORE``) or
RESET, in English or as Chinese panels print them (火警, 故障, 监管, 恢复, 复位). Headers,
separators, page feeds, blank lines and status lines such as ``SYSTEM NORMAL`` are not
events: :func:`parse_line` returns None for them and raises :class:`ParseError` for
anything else it cannot read.

Parsing is lenient where printers vary (case, spacing, CR/LF, NUL padding, printer
escape codes, junk after the line) and strict where a wrong value would be dangerous:
zone and address are only taken from a clean token, never guessed from damaged text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from firmware_bridge.fire.errors import ParseError, ParseReason

MAX_LINE_LENGTH = 512
"""Longest line accepted, in bytes (or characters for text). Printers are 40 or 80
columns wide; anything longer is a line ending lost in noise."""

_GB_MISREAD_AS_UTF8 = re.compile(r"[\u0080-\u00af\u00b1-\u00b6\u00b8-\u00d6\u00d8-\u07ff]")
"""Characters a GB18030 line yields when it happens to be valid UTF-8 (一楼, bytes
D2 BB C2 A5, reads as Cyrillic shha and a yen sign): the two-byte UTF-8 range, which
Chinese UTF-8 labels do not use, except for the degree, middle dot and multiplication
signs."""

FALLBACK_ENCODING = "gb18030"
"""Used with replacement characters when no encoding decodes a line strictly: Chinese
panels mostly print GB18030/GBK, and GB18030 is a superset of GBK."""


class PanelEventKind(StrEnum):
    """What the panel reported."""

    ALARM = "alarm"
    TROUBLE = "trouble"
    SUPERVISORY = "supervisory"
    RESTORE = "restore"
    RESET = "reset"
    """The operator reset the panel: every alarm, trouble and supervisory condition
    is cleared (panels often print no RESTORE lines for them)."""


@dataclass(frozen=True, slots=True)
class DeviceAddress:
    """Where a device sits on an addressable panel: loop (circuit) and address."""

    loop: int
    address: int

    def __str__(self) -> str:
        return f"L{self.loop:02d}-{self.address:03d}"


@dataclass(frozen=True, slots=True)
class PanelEvent:
    """One event line of the panel's printer port.

    Attributes:
        kind: What happened.
        printed_at: The panel's own clock, as printed (naive, panel-local time; panel
            clocks drift, so prefer ``received_at`` for ordering).
        zone: Zone number, or None when the line names no zone (panel-level troubles
            such as mains failure).
        device: Loop and address, or None when the line names no device.
        label: The installer's free-text label, may be Chinese; whitespace collapsed,
            may be empty. Undecodable bytes in it show as U+FFFD.
        damaged: The line carried undecodable bytes or control characters (removed at
            the ends, U+FFFD inside). Zone and device are still only read from clean
            tokens, but the label may be incomplete; many damaged lines mean a wrong
            encoding or baud rate.
        restored_kind: For RESTORE: what was restored (ALARM, TROUBLE, SUPERVISORY), or
            None if the panel did not say. None for other kinds.
        sequence: The panel's event number (``#0042``), if printed.
        text: The cleaned line, for logs and audit.
        received_at: When the line arrived (UTC), set by the serial source; None from
            :func:`parse_line`.
    """

    kind: PanelEventKind
    printed_at: datetime
    zone: int | None
    device: DeviceAddress | None
    label: str
    restored_kind: PanelEventKind | None = None
    sequence: int | None = None
    damaged: bool = False
    text: str = ""
    received_at: datetime | None = None


_KIND_WORDS: dict[str, PanelEventKind] = {
    "FIRE ALARM": PanelEventKind.ALARM,
    "ALARM": PanelEventKind.ALARM,
    "火警": PanelEventKind.ALARM,
    "TROUBLE": PanelEventKind.TROUBLE,
    "FAULT": PanelEventKind.TROUBLE,
    "故障": PanelEventKind.TROUBLE,
    "SUPERVISORY": PanelEventKind.SUPERVISORY,
    "SUPV": PanelEventKind.SUPERVISORY,
    "监管": PanelEventKind.SUPERVISORY,
}
_RESTORE_WORDS = ("RESTORED", "RESTORAL", "RESTORE", "恢复")
_RESET_WORDS = ("SYSTEM RESET", "RESET", "复位")
# Timestamped lines that are not events: operator actions and status.
_STATUS_WORDS = (
    "SYSTEM NORMAL",
    "ALL NORMAL",
    "NORMAL",
    "SILENCED",
    "SILENCE",
    "ACKNOWLEDGED",
    "ACKNOWLEDGE",
    "ACK",
    "DISABLED",
    "DISABLE",
    "ENABLED",
    "ENABLE",
    "WALK TEST",
    "TEST",
    "PRINTER",
    "POWER ON",
    "LOGIN",
    "LOGOUT",
    "系统正常",
    "消音",
    "确认",
    "屏蔽",
    "取消屏蔽",
    "自检",
    "开机",
)


def _alternation(words: tuple[str, ...] | list[str]) -> str:
    # Longest first, so that "FIRE ALARM" wins over "FIRE"; spaces match any run.
    ordered = sorted(words, key=len, reverse=True)
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered)


_KINDS = _alternation(list(_KIND_WORDS))
_RESTORES = _alternation(_RESTORE_WORDS)
_END = r"(?=\s|$)"

_DATE = r"(?P<y>\d{4})[-/.](?P<mo>\d{1,2})[-/.](?P<d>\d{1,2})"
_TIME = r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
_TIME2 = _TIME.replace("?P<", "?P<t_")
_DATE2 = _DATE.replace("?P<", "?P<t_")
# ASCII: keywords match case-insensitively in ASCII only (no Unicode case folding
# surprises), and digits are 0-9 only, never full-width or other scripts' digits.
_FLAGS = re.IGNORECASE | re.ASCII
_STAMPED = re.compile(
    rf"^(?:#(?P<seq>\d{{1,6}})\s+)?(?:{_DATE}\s+{_TIME}|{_TIME2}\s+{_DATE2}){_END}\s*(?P<rest>.*)$",
    re.ASCII,
)
_RESTORE_EVENT = re.compile(
    rf"^(?:(?:{_RESTORES})\s*(?P<k1>{_KINDS})?|(?P<k2>{_KINDS})\s*(?:{_RESTORES})){_END}",
    _FLAGS,
)
_KIND_EVENT = re.compile(rf"^(?P<k>{_KINDS}){_END}", _FLAGS)
_RESET_EVENT = re.compile(rf"^(?:{_alternation(_RESET_WORDS)}){_END}", _FLAGS)
_STATUS_LINE = re.compile(rf"^(?:{_alternation(_STATUS_WORDS)}){_END}", _FLAGS)
_ZONE = re.compile(rf"^(?:ZONE|ZN|Z)\s*(?P<zone>\d{{1,4}}){_END}", _FLAGS)
_DEVICE = re.compile(
    r"^(?:L(?:OOP)?\s*(?P<loop>\d{1,2})\s*(?:[-/:]\s*D?|D)\s*(?P<addr>\d{1,3})"
    rf"|(?P<loop_b>\d{{1,2}})[-/:](?P<addr_b>\d{{1,3}})){_END}",
    _FLAGS,
)
# An event word at the start of a line without a timestamp: a damaged event line.
_EVENT_WITHOUT_STAMP = re.compile(
    rf"^(?:#\d+\s+)?(?:{_KINDS}|{_RESTORES}|{_alternation(_RESET_WORDS)}){_END}",
    _FLAGS,
)
# Printer control sequences panels send around their output (ESC/P, ANSI CSI).
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-~]?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ue000-\uf8ff]")  # C0, C1, private use
_LAYOUT = str.maketrans("\t\r\n\f\v", "     ")
_EDGE_JUNK = "".join(chr(c) for c in range(0x21)) + "\x7f\ufffd\u3000"
_HEADER = re.compile(
    r"^(?:[-=*_#~.+|\s]+"  # separator rules
    r"|(?:PAGE|PG\.?)\s*:?\s*\d+"
    r"|第\s*\d+\s*页"
    r"|DATE\b.*\b(?:TIME|EVENT)\b.*"
    r"|日期.*时间.*"
    r"|.*(?:FIRE\s+ALARM\s+CONTROL\s+PANEL|\bFACP\b|(?:EVENT|ALARM)\s+(?:LOG|REPORT|HISTORY)"
    r"|火灾报警控制器|事件记录|历史记录).*"
    r"|(?:SYSTEM\s+NORMAL|ALL\s+NORMAL|系统正常|PRINTER\s+(?:ON|OFF)\s*-?\s*LINE))$",
    _FLAGS,
)


def decode_line(raw: bytes, encoding: str | None = None) -> str:
    """Turn a line's bytes into text without ever failing.

    Args:
        raw: The bytes of one line (line ending included or not).
        encoding: The panel's encoding (``"gb18030"``, ``"gbk"``, ``"utf-8"``…), or None
            to detect it: UTF-8 if the line is valid UTF-8 and reads as plausible text,
            else GB18030 if it is valid GB18030, else UTF-8 if valid at all, else
            :data:`FALLBACK_ENCODING` with replacement characters. Short GB18030 lines
            can be valid UTF-8 by accident; detection catches the usual cases, but
            declare the encoding when it is known.

    Returns:
        The text; bytes that do not decode become U+FFFD.
    """
    if encoding is not None:
        return raw.decode(encoding, errors="replace")
    try:
        utf8: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    if utf8 is not None and not _GB_MISREAD_AS_UTF8.search(utf8):
        return utf8
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        pass
    if utf8 is not None:
        return utf8
    return raw.decode(FALLBACK_ENCODING, errors="replace")


def _clean(text: str) -> tuple[str, bool]:
    """Printer noise out, words kept: escapes and NULs removed, other control
    characters marked U+FFFD, whitespace collapsed, junk at both ends stripped.

    Returns:
        The cleaned text, and whether the line had noise or undecodable bytes anywhere.
    """
    # Layout characters are spacing (a CR mid-line is how printers overstrike);
    # any other control character is noise and marks the line as damaged.
    text = _ESCAPES.sub("", text).replace("\x00", "").translate(_LAYOUT)
    text = _CONTROL.sub("\ufffd", text)
    return " ".join(text.split()).strip(_EDGE_JUNK), "\ufffd" in text


def _timestamp(match: re.Match[str]) -> datetime:
    p = "" if match.group("y") is not None else "t_"
    second = match.group(f"{p}s")
    try:
        return datetime(
            int(match.group(f"{p}y")),
            int(match.group(f"{p}mo")),
            int(match.group(f"{p}d")),
            int(match.group(f"{p}h")),
            int(match.group(f"{p}mi")),
            int(second) if second is not None else 0,
        )
    except ValueError as exc:
        raise ParseError(ParseReason.BAD_TIMESTAMP, f"{match.group(0)[:40]!r}: {exc}") from None


def _kind_word(word: str | None) -> PanelEventKind | None:
    if word is None:
        return None
    return _KIND_WORDS[" ".join(word.upper().split())]


def _event_word(rest: str) -> tuple[PanelEventKind, PanelEventKind | None, str] | None:
    """(kind, restored kind, what follows) for the event word at the start of ``rest``."""
    if match := _RESTORE_EVENT.match(rest):
        restored = _kind_word(match.group("k1") or match.group("k2"))
        return PanelEventKind.RESTORE, restored, rest[match.end() :]
    if match := _KIND_EVENT.match(rest):
        kind = _kind_word(match.group("k"))
        assert kind is not None
        return kind, None, rest[match.end() :]
    if match := _RESET_EVENT.match(rest):
        return PanelEventKind.RESET, None, rest[match.end() :]
    return None


def _location(rest: str) -> tuple[int | None, DeviceAddress | None, str]:
    """Optional zone, then optional device, then the label."""
    zone: int | None = None
    device: DeviceAddress | None = None
    rest = rest.strip()
    if match := _ZONE.match(rest):
        zone = int(match.group("zone"))
        rest = rest[match.end() :].strip()
    if match := _DEVICE.match(rest):
        loop = match.group("loop") or match.group("loop_b")
        address = match.group("addr") or match.group("addr_b")
        device = DeviceAddress(int(loop), int(address))
        rest = rest[match.end() :].strip()
    return zone, device, rest


def parse_line(line: str | bytes, *, encoding: str | None = None) -> PanelEvent | None:
    """Parse one printer line.

    Args:
        line: The line as bytes off the port (any encoding, see :func:`decode_line`)
            or as text; a trailing CR/LF and surrounding junk are ignored.
        encoding: The panel's encoding for bytes, or None to detect it per line.

    Returns:
        The event, or None for a line that is not an event: blank lines, page feeds,
        headers, separators, ``SYSTEM NORMAL`` and timestamped operator/status lines
        (silence, acknowledge, disable, test…).

    Raises:
        ParseError: ``reason`` is ``too_long``, ``garbled`` (noise, undecodable bytes),
            ``unknown_line`` (clean text of no known shape), ``missing_timestamp`` (an
            event word without date and time), ``bad_timestamp`` (no such date or time)
            or ``unknown_event`` (timestamped, but no event word we know).
    """
    if len(line) > MAX_LINE_LENGTH:
        raise ParseError(ParseReason.TOO_LONG, f"{len(line)} > {MAX_LINE_LENGTH}")
    text = decode_line(line, encoding) if isinstance(line, bytes) else line
    # Blank once printer noise that is harmless (escapes, NULs, page feeds) is gone.
    if not _ESCAPES.sub("", text).replace("\x00", "").strip(" \t\r\n\f\v\u3000"):
        return None
    cleaned, damaged = _clean(text)
    if not cleaned:
        raise ParseError(ParseReason.GARBLED, f"only noise: {text[:40]!r}")
    stamped = _STAMPED.match(cleaned)
    if stamped is None:
        if _HEADER.match(cleaned):
            return None
        if _EVENT_WITHOUT_STAMP.match(cleaned):
            raise ParseError(ParseReason.MISSING_TIMESTAMP, cleaned[:60])
        reason = ParseReason.GARBLED if damaged else ParseReason.UNKNOWN_LINE
        raise ParseError(reason, cleaned[:60])
    printed_at = _timestamp(stamped)
    rest = stamped.group("rest")
    event = _event_word(rest)
    if event is None:
        if _STATUS_LINE.match(rest):
            return None
        reason = ParseReason.GARBLED if damaged else ParseReason.UNKNOWN_EVENT
        raise ParseError(reason, cleaned[:60])
    kind, restored_kind, rest = event
    zone, device, label = _location(rest)
    seq = stamped.group("seq")
    return PanelEvent(
        kind=kind,
        printed_at=printed_at,
        zone=zone,
        device=device,
        label=label,
        restored_kind=restored_kind,
        sequence=int(seq) if seq is not None else None,
        damaged=damaged,
        text=cleaned,
    )


def format_line(event: PanelEvent) -> str:
    """The canonical printer line for ``event`` (no line ending): the inverse of
    :func:`parse_line`, used by the printer simulator and by tests.

    Args:
        event: The event to print.

    Returns:
        For example ``#0042 2024-03-14 10:32:15 ALARM               Z003 L01-045 3F 走廊 感烟``
        (the event word padded to 19 columns, as printers align them).
    """
    word = event.kind.name
    if event.kind is PanelEventKind.RESTORE and event.restored_kind is not None:
        word = f"RESTORE {event.restored_kind.name}"
    parts = []
    if event.sequence is not None:
        parts.append(f"#{event.sequence:04d}")
    parts.append(event.printed_at.strftime("%Y-%m-%d %H:%M:%S"))
    parts.append(f"{word:<19}")
    if event.zone is not None:
        parts.append(f"Z{event.zone:03d}")
    if event.device is not None:
        parts.append(str(event.device))
    if event.label:
        parts.append(event.label)
    return " ".join(parts).rstrip()
