"""Properties: random register words, random bytes and random text never raise
anything but the documented errors; encoders and parsers are each other's inverse;
line splitting does not depend on how the bytes were chunked."""

from __future__ import annotations

import re
from datetime import datetime

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from firmware_bridge.fire.errors import (
    ParseError,
    ParseReason,
    RegisterDecodeError,
    RegisterDecodeReason,
)
from firmware_bridge.fire.modbus_map import (
    DEVICE_TYPE_SMOKE_HEAT,
    MAP_VERSION,
    REGISTER_COUNT,
    DetectorReading,
    Reg,
    decode_registers,
    encode_registers,
    heartbeat_delta,
)
from firmware_bridge.fire.panel_parser import (
    DeviceAddress,
    PanelEvent,
    PanelEventKind,
    format_line,
    parse_line,
)
from firmware_bridge.fire.panel_source import LineEnding, LineSplitter

# Enough to find edge cases, light enough for a machine shared with a training run.
light = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

word = st.integers(0, 0xFFFF)


def decoded(words: list[int]) -> DetectorReading | RegisterDecodeError:
    try:
        return decode_registers(words)
    except RegisterDecodeError as exc:
        return exc


@light
@given(st.lists(st.integers(-(1 << 20), 1 << 20), max_size=2 * REGISTER_COUNT))
def test_any_integers_decode_or_raise_a_register_decode_error(words: list[int]) -> None:
    outcome = decoded(words)
    if isinstance(outcome, RegisterDecodeError):
        assert outcome.reason in set(RegisterDecodeReason)
    else:
        assert isinstance(outcome, DetectorReading)


@light
@given(st.lists(word, min_size=REGISTER_COUNT, max_size=REGISTER_COUNT))
def test_sixteen_bit_words_with_our_identity_decode_within_documented_ranges(
    words: list[int],
) -> None:
    words[Reg.DEVICE_TYPE] = DEVICE_TYPE_SMOKE_HEAT
    words[Reg.MAP_VERSION] = MAP_VERSION | (words[Reg.MAP_VERSION] & 0xFF)
    reading = decoded(words)
    if isinstance(reading, RegisterDecodeError):
        assert reading.reason.endswith("_out_of_range")
        return
    assert -40.0 <= reading.temperature_c <= 125.0
    assert 0.0 <= reading.obscuration_pct_per_m <= 50.0
    assert 0 <= reading.battery_mv <= 12_000
    assert 0 <= reading.heartbeat <= 0xFFFF


readings = st.builds(
    DetectorReading,
    alarm=st.booleans(),
    fault=st.booleans(),
    low_battery=st.booleans(),
    dirty_chamber=st.booleans(),
    temperature_c=st.integers(-400, 1250).map(lambda t: t / 10),
    obscuration_pct_per_m=st.integers(0, 5000).map(lambda o: o / 100),
    battery_mv=st.integers(0, 12_000),
    heartbeat=word,
    map_version=st.integers(0x0100, 0x01FF),
    firmware_version=word,
)


@light
@given(readings)
def test_encode_then_decode_gives_the_reading_back(reading: DetectorReading) -> None:
    words = encode_registers(reading)
    assert len(words) == REGISTER_COUNT
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_registers(words) == reading


@light
@given(word, st.integers(0, 0xFFFF))
def test_heartbeat_delta_undoes_a_wrapping_increment(start: int, steps: int) -> None:
    assert heartbeat_delta(start, (start + steps) % 65536) == steps


def _parse_outcome(line: str | bytes) -> PanelEvent | None:
    """The event, or None for a non-event line or a documented parse error."""
    try:
        return parse_line(line)
    except ParseError as exc:
        error = exc
    assert error.reason in set(ParseReason)
    return None


@light
@given(st.binary(max_size=600))
def test_any_bytes_parse_or_raise_a_parse_error(raw: bytes) -> None:
    event = _parse_outcome(raw)
    if event is not None:
        assert isinstance(event.kind, PanelEventKind)


@light
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_a_parse_error(text: str) -> None:
    _parse_outcome(text)


@light
@given(st.binary(max_size=80), st.binary(max_size=80))
def test_noise_around_a_valid_line_never_raises_anything_else(head: bytes, tail: bytes) -> None:
    line = "2024-03-14 10:32:15 ALARM Z003 L01-045 3F 走廊 感烟".encode("gb18030")
    _parse_outcome(head + line + tail)


label_words = st.text(
    alphabet=st.sampled_from(
        "走廊感烟温楼梯间厨房配电泵阀门手报按钮一二三四五号室层°ABCF0123456789"
    ),
    min_size=1,
    max_size=8,
)
labels = st.lists(label_words, max_size=5).map(" ".join)
kinds = st.sampled_from(list(PanelEventKind))
events = st.builds(
    PanelEvent,
    kind=kinds,
    printed_at=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    zone=st.none() | st.integers(0, 9999),
    device=st.none() | st.builds(DeviceAddress, st.integers(0, 99), st.integers(0, 999)),
    label=labels,
    restored_kind=st.none()
    | st.sampled_from([PanelEventKind.ALARM, PanelEventKind.TROUBLE, PanelEventKind.SUPERVISORY]),
    sequence=st.none() | st.integers(0, 999_999),
)


@light
@given(events, st.sampled_from(["gb18030", "gbk", "utf-8"]))
def test_format_then_parse_gives_the_event_back(event: PanelEvent, encoding: str) -> None:
    if event.kind is not PanelEventKind.RESTORE:
        event = PanelEvent(
            event.kind,
            event.printed_at,
            event.zone,
            event.device,
            event.label,
            None,
            event.sequence,
        )
    # A label that itself looks like a zone or an address would be read as one when
    # the line has none: that ambiguity is in the format, not a parser bug.
    location = r"(?i)(z|zone|zn|l|loop)?\s*\d"
    assume(not (event.zone is None and event.device is None and re.match(location, event.label)))
    assume(not (event.device is None and re.match(r"\d{1,2}[-/:]\d", event.label)))
    line = format_line(event)
    parsed = parse_line(line.encode(encoding) + b"\r\n")
    assert parsed is not None
    assert parsed == PanelEvent(
        event.kind,
        event.printed_at,
        event.zone,
        event.device,
        event.label,
        event.restored_kind,
        event.sequence,
        text=" ".join(line.split()),
    )


@light
@given(
    st.lists(st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)),
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
    st.lists(st.integers(1, 30), min_size=1),
)
def test_line_splitting_does_not_depend_on_chunking(
    lines: list[bytes], ending: bytes, cuts: list[int]
) -> None:
    stream = b"".join(line + ending for line in lines)
    splitter = LineSplitter(LineEnding.AUTO)
    out: list[bytes] = []
    position, i = 0, 0
    while position < len(stream):
        size = cuts[i % len(cuts)]
        out.extend(splitter.feed(stream[position : position + size]))
        position += size
        i += 1
    assert out == lines
