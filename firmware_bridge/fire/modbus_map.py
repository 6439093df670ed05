"""The Modbus register map of our smoke/heat detectors (map v1), and its pure decoder.

The map is documented for installers in ``REGISTERS.md`` next to this module; the
constants here are the same table in code, and a test keeps the two in step.

One detector is one Modbus unit id. The whole map is read with a single request of
:data:`REGISTER_COUNT` words from address :data:`FIRST_REGISTER` (function 04, *read
input registers*; devices that only implement function 03 serve the same words as
holding registers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from firmware_bridge.fire.errors import RegisterDecodeError, RegisterDecodeReason

FIRST_REGISTER = 0
"""PDU address of the first word of the map (register 30001 in the old notation)."""


class Reg(IntEnum):
    """Word offsets within the map."""

    DEVICE_TYPE = 0
    MAP_VERSION = 1
    STATUS = 2
    TEMPERATURE = 3
    OBSCURATION = 4
    BATTERY = 5
    HEARTBEAT = 6
    FIRMWARE = 7


REGISTER_COUNT = len(Reg)
"""Words in one read: the whole map."""

DEVICE_TYPE_SMOKE_HEAT = 0x4653
"""Device-type word of a multi-criteria smoke + heat detector (ASCII ``"FS"``)."""

MAP_VERSION_MAJOR = 1
"""Major map version this decoder understands (high byte of the map-version word)."""

MAP_VERSION = MAP_VERSION_MAJOR << 8
"""The map-version word our simulator writes: 1.0. Minor versions (low byte) may only
append registers or define reserved status bits, so any 1.x decodes."""


class StatusBit(IntEnum):
    """Bits of the status word (bit 0 is the least significant). Bits 4-15 are
    reserved: a later minor map version may define them, so the decoder ignores them."""

    ALARM = 1 << 0
    FAULT = 1 << 1
    LOW_BATTERY = 1 << 2
    DIRTY_CHAMBER = 1 << 3


TEMPERATURE_SCALE = 0.1
"""°C per count of the signed temperature word."""
TEMPERATURE_MIN_C = -40.0
TEMPERATURE_MAX_C = 125.0
"""The sensor's rated range; anything outside (including the firmware's 0x8000
"no value" marker) is a broken sensor, not a temperature."""

OBSCURATION_SCALE = 0.01
"""%/m per count of the unsigned obscuration word."""
OBSCURATION_MAX_PCT_PER_M = 50.0
"""Above this the chamber is not measuring smoke any more (0xFFFF is the firmware's
"chamber fault" marker)."""

BATTERY_MAX_MV = 12_000
"""A 9 V pack reads up to ~9.6 V fresh; 12 V leaves room, more is a broken ADC.
0 mV is valid: a loop-powered detector without a battery reports 0."""

HEARTBEAT_MODULUS = 1 << 16
"""The heartbeat word counts up once per second and wraps to 0 after 65535."""

_TEMPERATURE_MIN_RAW = round(TEMPERATURE_MIN_C / TEMPERATURE_SCALE)
_TEMPERATURE_MAX_RAW = round(TEMPERATURE_MAX_C / TEMPERATURE_SCALE)
_OBSCURATION_MAX_RAW = round(OBSCURATION_MAX_PCT_PER_M / OBSCURATION_SCALE)


@dataclass(frozen=True, slots=True)
class DetectorReading:
    """One decoded read of a detector's map.

    Attributes:
        alarm: The detector's own alarm decision (its firmware thresholds).
        fault: The detector reports an internal fault.
        low_battery: Battery below the detector's own threshold.
        dirty_chamber: Smoke chamber drift compensation exhausted: clean or replace.
        temperature_c: Air temperature, 0.1 °C resolution.
        obscuration_pct_per_m: Smoke obscuration, 0.01 %/m resolution.
        battery_mv: Battery voltage; 0 for detectors without a battery.
        heartbeat: Counter the detector increments once a second, modulo 65536; a
            value that stops changing while the detector still answers means its
            firmware hangs (see :func:`heartbeat_delta`).
        map_version: The raw map-version word (major << 8 | minor).
        firmware_version: The raw firmware word (major << 8 | minor).
    """

    alarm: bool
    fault: bool
    low_battery: bool
    dirty_chamber: bool
    temperature_c: float
    obscuration_pct_per_m: float
    battery_mv: int
    heartbeat: int
    map_version: int = MAP_VERSION
    firmware_version: int = 0x0100

    @property
    def firmware(self) -> str:
        """Firmware version as ``"major.minor"``."""
        return f"{self.firmware_version >> 8}.{self.firmware_version & 0xFF}"


def _signed16(word: int) -> int:
    return word - 0x1_0000 if word & 0x8000 else word


def decode_registers(words: Sequence[int]) -> DetectorReading:
    """Decode the :data:`REGISTER_COUNT` words of one detector.

    Args:
        words: The registers as read, from :data:`FIRST_REGISTER` on, each 0..65535.

    Returns:
        The typed reading.

    Raises:
        RegisterDecodeError: ``reason`` says what was wrong: ``wrong_count``,
            ``word_out_of_range``, ``wrong_device_type``, ``unsupported_map_version``,
            ``temperature_out_of_range``, ``obscuration_out_of_range`` or
            ``battery_out_of_range``.
    """
    if len(words) != REGISTER_COUNT:
        raise RegisterDecodeError(
            RegisterDecodeReason.WRONG_COUNT,
            f"expected {REGISTER_COUNT} words, got {len(words)}",
        )
    for offset, word in enumerate(words):
        # bool is an int too, but a register is never a truth value.
        if isinstance(word, bool) or not isinstance(word, int) or not 0 <= word <= 0xFFFF:
            raise RegisterDecodeError(
                RegisterDecodeReason.WORD_OUT_OF_RANGE,
                f"word {offset} is {word!r}, not 0..65535",
            )
    device_type = words[Reg.DEVICE_TYPE]
    if device_type != DEVICE_TYPE_SMOKE_HEAT:
        raise RegisterDecodeError(
            RegisterDecodeReason.WRONG_DEVICE_TYPE,
            f"device type 0x{device_type:04X}, expected 0x{DEVICE_TYPE_SMOKE_HEAT:04X}",
        )
    map_version = words[Reg.MAP_VERSION]
    if map_version >> 8 != MAP_VERSION_MAJOR:
        raise RegisterDecodeError(
            RegisterDecodeReason.UNSUPPORTED_MAP_VERSION,
            f"map version {map_version >> 8}.{map_version & 0xFF}, "
            f"this decoder reads {MAP_VERSION_MAJOR}.x",
        )
    temperature_raw = _signed16(words[Reg.TEMPERATURE])
    if not _TEMPERATURE_MIN_RAW <= temperature_raw <= _TEMPERATURE_MAX_RAW:
        raise RegisterDecodeError(
            RegisterDecodeReason.TEMPERATURE_OUT_OF_RANGE,
            f"temperature word {temperature_raw} (x0.1 °C) outside "
            f"{TEMPERATURE_MIN_C}..{TEMPERATURE_MAX_C} °C",
        )
    obscuration_raw = words[Reg.OBSCURATION]
    if obscuration_raw > _OBSCURATION_MAX_RAW:
        raise RegisterDecodeError(
            RegisterDecodeReason.OBSCURATION_OUT_OF_RANGE,
            f"obscuration word {obscuration_raw} (x0.01 %/m) above {OBSCURATION_MAX_PCT_PER_M} %/m",
        )
    battery_mv = words[Reg.BATTERY]
    if battery_mv > BATTERY_MAX_MV:
        raise RegisterDecodeError(
            RegisterDecodeReason.BATTERY_OUT_OF_RANGE,
            f"battery {battery_mv} mV above {BATTERY_MAX_MV} mV",
        )
    status = words[Reg.STATUS]
    return DetectorReading(
        alarm=bool(status & StatusBit.ALARM),
        fault=bool(status & StatusBit.FAULT),
        low_battery=bool(status & StatusBit.LOW_BATTERY),
        dirty_chamber=bool(status & StatusBit.DIRTY_CHAMBER),
        # Dividing the integer keeps 0.1 steps exact to the float's precision
        # (raw * 0.1 would give 57.300000000000004).
        temperature_c=temperature_raw / 10,
        obscuration_pct_per_m=obscuration_raw / 100,
        battery_mv=battery_mv,
        heartbeat=words[Reg.HEARTBEAT],
        map_version=map_version,
        firmware_version=words[Reg.FIRMWARE],
    )


def _saturate(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def encode_registers(
    reading: DetectorReading, *, device_type: int = DEVICE_TYPE_SMOKE_HEAT
) -> list[int]:
    """The words a detector in the state ``reading`` serves: the inverse of
    :func:`decode_registers`, used by the simulator and by tests.

    Values are rounded to the map's resolution and saturate at what the word can
    hold, as detector firmware does with its ADC readings; a value outside the
    decoder's valid range is still written, so a simulator can play a broken sensor.

    Args:
        reading: The state to encode.
        device_type: The device-type word (a simulator may pretend to be another device).

    Returns:
        :data:`REGISTER_COUNT` words, 0..65535 each.
    """
    status = 0
    for flag, bit in (
        (reading.alarm, StatusBit.ALARM),
        (reading.fault, StatusBit.FAULT),
        (reading.low_battery, StatusBit.LOW_BATTERY),
        (reading.dirty_chamber, StatusBit.DIRTY_CHAMBER),
    ):
        if flag:
            status |= bit
    temperature = reading.temperature_c
    temperature_raw = round(temperature * 10) if math.isfinite(temperature) else -0x8000
    obscuration = reading.obscuration_pct_per_m
    obscuration_raw = round(obscuration * 100) if math.isfinite(obscuration) else 0xFFFF
    words = [0] * REGISTER_COUNT
    words[Reg.DEVICE_TYPE] = device_type & 0xFFFF
    words[Reg.MAP_VERSION] = reading.map_version & 0xFFFF
    words[Reg.STATUS] = status
    words[Reg.TEMPERATURE] = _saturate(temperature_raw, -0x8000, 0x7FFF) & 0xFFFF
    words[Reg.OBSCURATION] = _saturate(obscuration_raw, 0, 0xFFFF)
    words[Reg.BATTERY] = _saturate(reading.battery_mv, 0, 0xFFFF)
    words[Reg.HEARTBEAT] = reading.heartbeat % HEARTBEAT_MODULUS
    words[Reg.FIRMWARE] = reading.firmware_version & 0xFFFF
    return words


def heartbeat_delta(previous: int, current: int) -> int:
    """How many times the heartbeat advanced from ``previous`` to ``current``,
    across the wrap at 65536 (0 means it did not move: the firmware may hang).

    Args:
        previous: An earlier heartbeat word.
        current: A later heartbeat word.

    Returns:
        ``(current - previous) mod 65536``.
    """
    return (current - previous) % HEARTBEAT_MODULUS
