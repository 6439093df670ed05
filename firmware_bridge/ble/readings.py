"""What the decoders return: one frozen dataclass per frame format, and the result of
decoding a whole advertisement."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from uuid import UUID

from firmware_bridge.ble.skips import SkipReason


@dataclass(frozen=True, slots=True)
class IBeacon:
    """Apple iBeacon (manufacturer data of company 0x004C, type 0x02, length 0x15)."""

    uuid: UUID
    """Proximity UUID."""
    major: int
    minor: int
    measured_power: int
    """Calibrated RSSI at 1 m, signed dBm."""


@dataclass(frozen=True, slots=True)
class EddystoneUid:
    """Eddystone-UID (service data of 0xFEAA, frame type 0x00)."""

    tx_power_0m: int
    """Ranging data: calibrated TX power at 0 m, signed dBm."""
    namespace: bytes
    """10-byte namespace id."""
    instance: bytes
    """6-byte instance id."""


@dataclass(frozen=True, slots=True)
class EddystoneTlm:
    """Eddystone-TLM, unencrypted (frame type 0x20, version 0x00)."""

    battery_mv: int | None
    """Battery voltage in mV; ``None`` where the beacon sends 0 (not supported)."""
    temperature_c: float | None
    """Beacon temperature in °C (signed 8.8 fixed point); ``None`` for 0x8000 (not supported)."""
    adv_count: int
    """Advertising PDUs sent since power-up or reboot."""
    uptime_s: float
    """Time since power-up or reboot in seconds (sent in 0.1 s units)."""


class AreaKind(IntEnum):
    """Where a stud is set: the kind of area its ``area_id`` names."""

    UNASSIGNED = 0
    """Not provisioned yet (``area_id`` is 0)."""
    BAY = 1
    """In a parking bay; ``area_id`` is the bay id."""
    NO_PARKING = 2
    """In a no-parking zone; ``area_id`` is the zone id."""


@dataclass(frozen=True, slots=True)
class StudStatus:
    """Our stud's status frame (manufacturer data of company 0xFFFF); see STUD_FRAME.md."""

    stud_id: int
    area_kind: AreaKind
    area_id: int
    """Bay id or no-parking zone id, by ``area_kind``; 0 when unassigned."""
    occupied: bool
    """The stud's magnetometer sees a bike above it (raw, no debouncing)."""
    tamper: bool
    """The tamper switch has tripped (latched in the stud until maintenance resets it)."""
    field_ut: float | None
    """Field strength deviation from the stud's calibrated baseline in µT (0.1 µT steps);
    ``None`` when the magnetometer reports a fault."""
    battery_mv: int
    seq: int
    """Sequence number, 0…65535, +1 per status frame, wraps; restarts at 0 on reboot."""
    version: int = 1
    """Frame version byte."""

    @property
    def bay_id(self) -> int | None:
        """The bay the stud is set in, or ``None`` outside bays."""
        return self.area_id if self.area_kind is AreaKind.BAY else None

    @property
    def no_parking_zone_id(self) -> int | None:
        """The no-parking zone the stud is set in, or ``None``."""
        return self.area_id if self.area_kind is AreaKind.NO_PARKING else None


Reading = IBeacon | EddystoneUid | EddystoneTlm | StudStatus
"""Any one decoded frame."""


@dataclass(frozen=True, slots=True)
class DecodedAdvert:
    """What one advertisement held: the frames decoded, in order, and the reason for each
    part skipped, in order. Both are empty for an empty advertisement."""

    readings: tuple[Reading, ...] = ()
    skipped: tuple[SkipReason, ...] = ()

    @property
    def stud(self) -> StudStatus | None:
        """The stud status frame, if the advertisement carried one."""
        for reading in self.readings:
            if isinstance(reading, StudStatus):
                return reading
        return None
