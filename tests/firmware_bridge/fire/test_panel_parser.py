"""parse_line on a corpus of realistic printer lines: events, non-events, garbage,
GB18030/GBK/UTF-8 bytes."""

from __future__ import annotations

from datetime import datetime

import pytest

from firmware_bridge.fire.errors import DecodeError, ParseError, ParseReason
from firmware_bridge.fire.panel_parser import (
    MAX_LINE_LENGTH,
    DeviceAddress,
    PanelEvent,
    PanelEventKind,
    decode_line,
    format_line,
    parse_line,
)

K = PanelEventKind
WHEN = datetime(2024, 3, 14, 10, 32, 15)

# (line, kind, restored kind, printed_at, zone, (loop, address), label, sequence)
EVENTS: list[
    tuple[
        str,
        PanelEventKind,
        PanelEventKind | None,
        datetime,
        int | None,
        tuple[int, int] | None,
        str,
        int | None,
    ]
] = [
    (
        "#0042 2024-03-14 10:32:15 ALARM               Z003 L01-045 3F 走廊 感烟",
        K.ALARM, None, WHEN, 3, (1, 45), "3F 走廊 感烟", 42,
    ),
    (
        "2024-03-14 10:33:02  trouble Z3 L1/46  3F 走廊 感温 开路",
        K.TROUBLE, None, datetime(2024, 3, 14, 10, 33, 2), 3, (1, 46), "3F 走廊 感温 开路", None,
    ),
    (
        "2024/3/14 10:40 SUPV zone 10 L02D003 消防泵房 阀门",
        K.SUPERVISORY, None, datetime(2024, 3, 14, 10, 40), 10, (2, 3), "消防泵房 阀门", None,
    ),
    (
        "2024-03-14 10:45:00 RESTORE ALARM Z003 L01-045 3F 走廊 感烟",
        K.RESTORE, K.ALARM, datetime(2024, 3, 14, 10, 45), 3, (1, 45), "3F 走廊 感烟", None,
    ),
    (
        "2024-03-14 10:45:30 Trouble Restored Z003 L01-046",
        K.RESTORE, K.TROUBLE, datetime(2024, 3, 14, 10, 45, 30), 3, (1, 46), "", None,
    ),
    (
        "2024-03-14 10:46:00 故障恢复 Z003 01-046 3F 走廊 感温",
        K.RESTORE, K.TROUBLE, datetime(2024, 3, 14, 10, 46), 3, (1, 46), "3F 走廊 感温", None,
    ),
    (
        "10:47:00 2024-03-14 火警 Z005 02-011 5F 301室 厨房 感温",
        K.ALARM, None, datetime(2024, 3, 14, 10, 47), 5, (2, 11), "5F 301室 厨房 感温", None,
    ),
    (
        "2024-03-14 10:50:00 TROUBLE MAINS POWER FAIL",
        K.TROUBLE, None, datetime(2024, 3, 14, 10, 50), None, None, "MAINS POWER FAIL", None,
    ),
    (
        "2024-03-14 11:00:00 SYSTEM RESET",
        K.RESET, None, datetime(2024, 3, 14, 11, 0), None, None, "", None,
    ),
    (
        "2024.03.14 11:05:09 Fire Alarm ZN 12 L3-D200 社区食堂 后厨 感温",
        K.ALARM, None, datetime(2024, 3, 14, 11, 5, 9), 12, (3, 200), "社区食堂 后厨 感温", None,
    ),
    (
        "2024-03-14 11:06:00 FAULT L01-007 B1 车库 手报按钮",
        K.TROUBLE, None, datetime(2024, 3, 14, 11, 6), None, (1, 7), "B1 车库 手报按钮", None,
    ),
    (
        "2024-03-14 11:07:00 supervisory Z0010 loop 2-3 水流指示器",
        K.SUPERVISORY, None, datetime(2024, 3, 14, 11, 7), 10, (2, 3), "水流指示器", None,
    ),
    (
        "2024-03-14 11:08:00 监管恢复 Z010 L02-003 水流指示器",
        K.RESTORE, K.SUPERVISORY, datetime(2024, 3, 14, 11, 8), 10, (2, 3), "水流指示器", None,
    ),
    (
        "2024-03-14 11:09:00 RESTORE Z003 L01-045",
        K.RESTORE, None, datetime(2024, 3, 14, 11, 9), 3, (1, 45), "", None,
    ),
    (
        "2024-03-14 11:10:00 复位",
        K.RESET, None, datetime(2024, 3, 14, 11, 10), None, None, "", None,
    ),
    (
        "#123456 2024-12-31 23:59:59 RESTORAL SUPERVISORY Z9999 L99-999 x",
        K.RESTORE, K.SUPERVISORY, datetime(2024, 12, 31, 23, 59, 59), 9999, (99, 999), "x",
        123456,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "kind", "restored", "at", "zone", "device", "label", "seq"), EVENTS
)
def test_event_lines(
    line: str,
    kind: PanelEventKind,
    restored: PanelEventKind | None,
    at: datetime,
    zone: int | None,
    device: tuple[int, int] | None,
    label: str,
    seq: int | None,
) -> None:
    event = parse_line(line)
    assert event == PanelEvent(
        kind=kind,
        printed_at=at,
        zone=zone,
        device=DeviceAddress(*device) if device else None,
        label=label,
        restored_kind=restored,
        sequence=seq,
        text=" ".join(line.split()),
    )


@pytest.mark.parametrize(
    ("line", "kind", "restored", "at", "zone", "device", "label", "seq"), EVENTS
)
@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8"])
@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r", b""])
def test_event_lines_as_bytes_in_every_encoding_and_line_ending(
    line: str,
    kind: PanelEventKind,
    restored: PanelEventKind | None,
    at: datetime,
    zone: int | None,
    device: tuple[int, int] | None,
    label: str,
    seq: int | None,
    encoding: str,
    ending: bytes,
) -> None:
    """Detected per line, no encoding given: what an installer gets by default."""
    event = parse_line(line.encode(encoding) + ending)
    assert event is not None
    assert (event.kind, event.restored_kind, event.printed_at) == (kind, restored, at)
    assert (event.zone, event.label, event.sequence) == (zone, label, seq)
    assert event.device == (DeviceAddress(*device) if device else None)


def test_the_declared_encoding_wins_over_detection() -> None:
    raw = "2024-03-14 10:32:15 ALARM Z003 L01-045 3F 走廊 感烟".encode("gb18030")
    event = parse_line(raw, encoding="gb18030")
    assert event is not None
    assert event.label == "3F 走廊 感烟"
    misread = parse_line(raw, encoding="utf-8")  # a panel set up wrongly: label damaged
    assert misread is not None
    assert misread.kind is K.ALARM
    assert misread.zone == 3
    assert misread.damaged  # the Chinese label did not survive: say so
    assert not event.damaged


@pytest.mark.parametrize(
    "text",
    [
        "走廊",
        "一楼",
        "一",
        "二楼 配电间",
        "3F 走廊 感温 60°C",
        "温度\u00d72 \u00b7 测试",
        "ABC 123",
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "gbk"])
def test_decode_line_detects_the_encoding(text: str, encoding: str) -> None:
    assert decode_line(text.encode(encoding)) == text


def test_gb18030_that_happens_to_be_valid_utf8_is_read_as_gb18030() -> None:
    raw = "一楼".encode("gb18030")
    assert raw.decode("utf-8") == "\u04bb\u00a5"  # valid UTF-8 (Cyrillic shha, yen): wrong
    assert decode_line(raw) == "一楼"
    event = parse_line(b"2024-03-14 10:32:15 ALARM Z001 " + raw)
    assert event is not None
    assert event.label == "一楼"


def test_decode_line_never_fails() -> None:
    assert decode_line(b"\xff\xfe abc") == "\ufffd\ufffd abc"
    odd = "Ѐ走"  # valid UTF-8, invalid GB18030 (a lone B0 at the end): kept as UTF-8
    with pytest.raises(UnicodeDecodeError):
        odd.encode().decode("gb18030")
    assert decode_line(odd.encode()) == odd


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "\r\n",
        "\f",
        "\f\r\n",
        "\x1b@",
        "\x00\x00\x00",
        "\x1b[1m\x1b[0m",
        "-" * 80,
        "=" * 40,
        "****************",
        "DATE       TIME     EVENT          ZONE DEVICE  LABEL",
        "日期       时间     事件     区号  地址  位置",
        "GST200 FIRE ALARM CONTROL PANEL",
        "GST200 火灾报警控制器  FIRE ALARM CONTROL PANEL",
        "FACP-2 EVENT LOG 2024-03-14 10:00",
        "ALARM HISTORY",
        "PAGE 3",
        "Page: 12",
        "第 3 页",
        "SYSTEM NORMAL",
        "系统正常",
        "PRINTER ON LINE",
        "2024-03-14 10:32:15 SYSTEM NORMAL",
        "2024-03-14 10:32:15 SILENCE",
        "2024-03-14 10:32:15 ACK Z003",
        "2024-03-14 10:32:15 DISABLE Z003 L01-045 3F 走廊 感烟",
        "2024-03-14 10:32:15 WALK TEST",
        "2024-03-14 10:32:15 消音",
        "2024-03-14 10:32:15 自检",
    ],
)
def test_lines_that_are_not_events(line: str) -> None:
    assert parse_line(line) is None
    assert parse_line(line.encode("gb18030") + b"\r\n") is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("hello world", ParseReason.UNKNOWN_LINE),
        ("OK", ParseReason.UNKNOWN_LINE),
        ("ALARM Z003 L01-045 3F 走廊 感烟", ParseReason.MISSING_TIMESTAMP),
        ("#12 trouble Z3", ParseReason.MISSING_TIMESTAMP),
        ("故障 Z003", ParseReason.MISSING_TIMESTAMP),
        ("2024-13-14 10:32:15 ALARM Z003", ParseReason.BAD_TIMESTAMP),
        ("2024-02-30 10:32:15 ALARM Z003", ParseReason.BAD_TIMESTAMP),
        ("2024-03-14 25:00 ALARM Z003", ParseReason.BAD_TIMESTAMP),
        ("2024-03-14 10:61:00 ALARM Z003", ParseReason.BAD_TIMESTAMP),
        ("2024-03-14 10:32:15 PREALARM Z003", ParseReason.UNKNOWN_EVENT),
        ("2024-03-14 10:32:15 DRILL", ParseReason.UNKNOWN_EVENT),
        ("2024-03-14 10:32:15", ParseReason.UNKNOWN_EVENT),
        ("2024-03-14 10:32:15 FIRE PUMP RUNNING", ParseReason.UNKNOWN_EVENT),
        ("2024-03-14 10:32:15 ALARMZ003", ParseReason.UNKNOWN_EVENT),
        ("\x07\x08\x7f", ParseReason.GARBLED),
        ("\ufffd\ufffd", ParseReason.GARBLED),
        ("\x81garbage\x9f here", ParseReason.GARBLED),
        ("2024-03-14 10:32:15 \x07LARM Z003", ParseReason.GARBLED),
    ],
)
def test_lines_that_are_rejected_say_why(line: str, reason: ParseReason) -> None:
    with pytest.raises(ParseError) as caught:
        parse_line(line)
    assert caught.value.reason is reason
    assert isinstance(caught.value, DecodeError)


@pytest.mark.parametrize(
    "raw",
    [
        bytes(range(0x80, 0xA0)),
        b"\xff\xfe\xfd\xfc",
        b"\x00\xff\x00\xfe\r\n",
        b"\xfe\xfd\xfc\xfb\xfa\xf9\xf8",  # GB18030 user-defined area: private-use characters
    ],
)
def test_line_noise_bytes_are_garbled(raw: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_line(raw)
    assert caught.value.reason is ParseReason.GARBLED


def test_too_long_lines_are_rejected_before_decoding() -> None:
    long_line = b"2024-03-14 10:32:15 ALARM Z003 " + b"x" * MAX_LINE_LENGTH
    with pytest.raises(ParseError) as caught:
        parse_line(long_line)
    assert caught.value.reason is ParseReason.TOO_LONG
    with pytest.raises(ParseError):
        parse_line("x" * (MAX_LINE_LENGTH + 1))
    assert parse_line("2024-03-14 10:32:15 ALARM Z003 " + "x" * 400) is not None


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x002024-03-14 10:32:15 ALARM Z003 L01-045 3F\r\n",
        b"\f2024-03-14 10:32:15 ALARM Z003 L01-045 3F\r\n",
        b"\x1b@\x1b[1m2024-03-14 10:32:15 ALARM Z003 L01-045 3F\x1b[0m\r\n",
        b"2024-03-14\t10:32:15\tALARM\tZ003\tL01-045\t3F\r\n",
        b"  2024-03-14   10:32:15   ALARM   Z003   L01-045   3F   \r\n",
        b"2024-03-14 10:32:15 ALARM Z003 L01-045 3F\xff\xfe\x00\x00\r\n",
        b"2024-03-14 10:32:15 ALARM Z003 L01-045 3F\x07\x1a\r\n",
        b"\xff2024-03-14 10:32:15 ALARM Z003 L01-045 3F",
        b"2024-03-14 10:32:15 alarm z003 l01-045 3F",
    ],
)
def test_printer_noise_around_an_alarm_does_not_lose_it(raw: bytes) -> None:
    event = parse_line(raw)
    assert event is not None
    assert (event.kind, event.zone, event.device) == (K.ALARM, 3, DeviceAddress(1, 45))
    assert event.label == "3F"
    assert event.damaged == any(c in raw for c in b"\xff\x07")


def test_a_damaged_label_keeps_the_alarm_and_marks_the_damage() -> None:
    raw = "2024-03-14 10:32:15 ALARM Z003 L01-045 3F 走廊".encode("gb18030")
    event = parse_line(raw[:-1] + b"\x07" + " 感烟".encode("gb18030"))
    assert event is not None
    assert (event.kind, event.zone, event.device) == (K.ALARM, 3, DeviceAddress(1, 45))
    assert "\ufffd" in event.label
    assert event.label.startswith("3F")
    assert event.damaged


def test_a_zone_or_address_is_never_read_from_a_damaged_token() -> None:
    event = parse_line("2024-03-14 10:32:15 ALARM Z0\x0703 L01-045 3F")
    assert event is not None
    assert event.zone is None
    assert event.device is None
    assert event.label.startswith("Z0")


def test_format_line_prints_what_parse_line_reads() -> None:
    event = PanelEvent(
        kind=K.RESTORE,
        printed_at=WHEN,
        zone=3,
        device=DeviceAddress(1, 45),
        label="3F 走廊 感烟",
        restored_kind=K.ALARM,
        sequence=42,
    )
    line = format_line(event)
    assert line == "#0042 2024-03-14 10:32:15 RESTORE ALARM       Z003 L01-045 3F 走廊 感烟"
    parsed = parse_line(line.encode("gb18030") + b"\r\n")
    assert parsed is not None
    assert parsed == PanelEvent(
        kind=K.RESTORE,
        printed_at=WHEN,
        zone=3,
        device=DeviceAddress(1, 45),
        label="3F 走廊 感烟",
        restored_kind=K.ALARM,
        sequence=42,
        text="#0042 2024-03-14 10:32:15 RESTORE ALARM Z003 L01-045 3F 走廊 感烟",
    )
    assert str(DeviceAddress(2, 3)) == "L02-003"
