"""decode_registers: every field, bit, boundary and error reason of map v1."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from firmware_bridge.fire.errors import DecodeError, RegisterDecodeError, RegisterDecodeReason
from firmware_bridge.fire.modbus_map import (
    DEVICE_TYPE_SMOKE_HEAT,
    MAP_VERSION,
    REGISTER_COUNT,
    DetectorReading,
    Reg,
    StatusBit,
    decode_registers,
    encode_registers,
    heartbeat_delta,
)

R = RegisterDecodeReason


def words(**overrides: int) -> list[int]:
    """A valid map: 21.5 °C, 0.12 %/m, 3010 mV, heartbeat 7, firmware 1.2; fields
    given by name (``TEMPERATURE=…``) replace their word."""
    base = {
        Reg.DEVICE_TYPE: DEVICE_TYPE_SMOKE_HEAT,
        Reg.MAP_VERSION: MAP_VERSION,
        Reg.STATUS: 0,
        Reg.TEMPERATURE: 215,
        Reg.OBSCURATION: 12,
        Reg.BATTERY: 3010,
        Reg.HEARTBEAT: 7,
        Reg.FIRMWARE: 0x0102,
    }
    for name, value in overrides.items():
        base[Reg[name]] = value
    return [base[reg] for reg in Reg]


def reason_of(ws: Sequence[int]) -> RegisterDecodeReason:
    with pytest.raises(RegisterDecodeError) as caught:
        decode_registers(ws)
    return caught.value.reason


def test_a_valid_map_decodes_every_field() -> None:
    reading = decode_registers(words())
    assert reading == DetectorReading(
        alarm=False,
        fault=False,
        low_battery=False,
        dirty_chamber=False,
        temperature_c=21.5,
        obscuration_pct_per_m=0.12,
        battery_mv=3010,
        heartbeat=7,
        map_version=0x0100,
        firmware_version=0x0102,
    )
    assert reading.firmware == "1.2"


def test_the_map_is_eight_words_from_offset_zero() -> None:
    assert REGISTER_COUNT == 8
    assert [int(r) for r in Reg] == list(range(8))


@pytest.mark.parametrize(
    ("bit", "field"),
    [
        (StatusBit.ALARM, "alarm"),
        (StatusBit.FAULT, "fault"),
        (StatusBit.LOW_BATTERY, "low_battery"),
        (StatusBit.DIRTY_CHAMBER, "dirty_chamber"),
    ],
)
def test_each_status_bit_sets_its_own_flag_only(bit: StatusBit, field: str) -> None:
    reading = decode_registers(words(STATUS=int(bit)))
    flags = {f: getattr(reading, f) for f in ("alarm", "fault", "low_battery", "dirty_chamber")}
    assert flags == {f: f == field for f in flags}


def test_status_bits_are_independent_and_reserved_bits_are_ignored() -> None:
    everything = decode_registers(words(STATUS=0xFFFF))
    assert (everything.alarm, everything.fault, everything.low_battery) == (True, True, True)
    assert everything.dirty_chamber
    reserved_only = decode_registers(words(STATUS=0xFFF0))
    assert not any((reserved_only.alarm, reserved_only.fault, reserved_only.low_battery))
    assert not reserved_only.dirty_chamber
    assert [b.value for b in StatusBit] == [1, 2, 4, 8]


@pytest.mark.parametrize(
    ("word", "celsius"),
    [
        (0, 0.0),
        (1, 0.1),
        (573, 57.3),
        (1250, 125.0),  # top of the sensor's range
        (0xFFFF, -0.1),  # two's complement
        (0x10000 - 400, -40.0),  # bottom of the range
        (0x10000 - 55, -5.5),
    ],
)
def test_temperature_is_signed_tenths_of_a_degree(word: int, celsius: float) -> None:
    assert decode_registers(words(TEMPERATURE=word)).temperature_c == celsius


@pytest.mark.parametrize("word", [1251, 0x7FFF, 0x10000 - 401, 0x8000])
def test_temperature_outside_the_sensor_range_is_rejected(word: int) -> None:
    assert reason_of(words(TEMPERATURE=word)) is R.TEMPERATURE_OUT_OF_RANGE


@pytest.mark.parametrize(("word", "pct"), [(0, 0.0), (1, 0.01), (350, 3.5), (5000, 50.0)])
def test_obscuration_is_hundredths_of_a_percent_per_metre(word: int, pct: float) -> None:
    assert decode_registers(words(OBSCURATION=word)).obscuration_pct_per_m == pct


@pytest.mark.parametrize("word", [5001, 0xFFFF])
def test_obscuration_above_fifty_percent_is_rejected(word: int) -> None:
    assert reason_of(words(OBSCURATION=word)) is R.OBSCURATION_OUT_OF_RANGE


@pytest.mark.parametrize("millivolts", [0, 2600, 9600, 12000])
def test_battery_millivolts(millivolts: int) -> None:
    assert decode_registers(words(BATTERY=millivolts)).battery_mv == millivolts


@pytest.mark.parametrize("word", [12001, 0xFFFF])
def test_battery_above_twelve_volts_is_rejected(word: int) -> None:
    assert reason_of(words(BATTERY=word)) is R.BATTERY_OUT_OF_RANGE


@pytest.mark.parametrize("word", [0, 1, 65535])
def test_heartbeat_is_the_raw_counter(word: int) -> None:
    assert decode_registers(words(HEARTBEAT=word)).heartbeat == word


@pytest.mark.parametrize("count", [0, 1, REGISTER_COUNT - 1, REGISTER_COUNT + 1, 125])
def test_wrong_number_of_words(count: int) -> None:
    assert reason_of([0] * count) is R.WRONG_COUNT


@pytest.mark.parametrize("bad", [-1, 0x10000, 1 << 40])
def test_words_must_be_sixteen_bit(bad: int) -> None:
    ws = words()
    ws[Reg.FIRMWARE] = bad
    assert reason_of(ws) is R.WORD_OUT_OF_RANGE


def test_a_bool_is_not_a_register_word() -> None:
    ws: list[int] = words()
    ws[Reg.STATUS] = True
    assert reason_of(ws) is R.WORD_OUT_OF_RANGE


@pytest.mark.parametrize("device_type", [0, 0x4654, 0x5346, 0xFFFF])
def test_another_device_type_is_refused(device_type: int) -> None:
    assert reason_of(words(DEVICE_TYPE=device_type)) is R.WRONG_DEVICE_TYPE


@pytest.mark.parametrize("version", [0x0100, 0x0101, 0x01FF])
def test_any_minor_version_of_map_one_decodes(version: int) -> None:
    assert decode_registers(words(MAP_VERSION=version)).map_version == version


@pytest.mark.parametrize("version", [0x0000, 0x00FF, 0x0200, 0xFF01])
def test_another_major_map_version_is_refused(version: int) -> None:
    assert reason_of(words(MAP_VERSION=version)) is R.UNSUPPORTED_MAP_VERSION


def test_identity_is_checked_before_values() -> None:
    """A foreign device's words are not judged as temperatures."""
    assert reason_of(words(DEVICE_TYPE=1, TEMPERATURE=0x8000)) is R.WRONG_DEVICE_TYPE
    assert reason_of(words(MAP_VERSION=0x0200, BATTERY=0xFFFF)) is R.UNSUPPORTED_MAP_VERSION


def test_errors_are_decode_errors_with_stable_reason_strings() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_registers(words(TEMPERATURE=0x8000))
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.reason == "temperature_out_of_range"
    assert "outside" in error.detail
    assert {r.value for r in R} == {
        "wrong_count",
        "word_out_of_range",
        "wrong_device_type",
        "unsupported_map_version",
        "temperature_out_of_range",
        "obscuration_out_of_range",
        "battery_out_of_range",
    }


def test_encode_is_the_inverse_of_decode() -> None:
    reading = decode_registers(words(STATUS=0b1011, TEMPERATURE=0x10000 - 123, HEARTBEAT=65535))
    assert encode_registers(reading) == words(
        STATUS=0b1011, TEMPERATURE=0x10000 - 123, HEARTBEAT=65535
    )
    assert decode_registers(encode_registers(reading)) == reading


def test_encode_rounds_and_saturates_like_firmware() -> None:
    reading = DetectorReading(
        alarm=False,
        fault=False,
        low_battery=False,
        dirty_chamber=False,
        temperature_c=5000.0,
        obscuration_pct_per_m=-1.0,
        battery_mv=70_000,
        heartbeat=65536 + 5,
    )
    ws = encode_registers(reading, device_type=0x1234)
    assert ws[Reg.TEMPERATURE] == 0x7FFF
    assert ws[Reg.OBSCURATION] == 0
    assert ws[Reg.BATTERY] == 0xFFFF
    assert ws[Reg.HEARTBEAT] == 5
    assert ws[Reg.DEVICE_TYPE] == 0x1234
    nan = DetectorReading(False, False, False, False, float("nan"), float("inf"), 3000, 0)
    assert encode_registers(nan)[Reg.TEMPERATURE] == 0x8000
    assert encode_registers(nan)[Reg.OBSCURATION] == 0xFFFF


@pytest.mark.parametrize(
    ("previous", "current", "delta"),
    [(0, 0, 0), (7, 9, 2), (65535, 0, 1), (65530, 4, 10), (9, 7, 65534)],
)
def test_heartbeat_delta_counts_across_the_wrap(previous: int, current: int, delta: int) -> None:
    assert heartbeat_delta(previous, current) == delta
