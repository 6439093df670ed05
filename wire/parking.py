"""The parking part of the contract: what parking events carry (``Event.data``).

A parking box listens to the Bluetooth studs of the bays and no-parking zones near it.
State changes are events, one per message on the alarm lane:

* ``parking.stud_offline`` / ``parking.stud_back``: a stud unheard for its away
  timeout, and heard again;
* ``parking.low_battery`` / ``parking.battery_ok``: its battery below the threshold,
  and back above it (a new battery);
* ``parking.tamper`` / ``parking.tamper_clear``: its tamper switch tripped, and reset;
* ``parking.over_capacity`` / ``parking.over_capacity_clear``: a bay holds more bikes
  than its capacity, and no longer does;
* ``parking.no_parking`` / ``parking.no_parking_clear``: a bike parked in a no-parking
  zone, and the zone clear again.

Steady state goes as batched telemetry (bay counts, stud RSSI and battery) and, every
so often, as one ``parking.snapshot`` event with every bay and stud the box knows (on
the telemetry lane: a lost snapshot is replaced by the next).

Times are the box's clock, which for a replayed capture is the capture's own
(``at_us``: when the box judged the change; ``last_seen_us``: the stud's last frame).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

STUD_OFFLINE = "parking.stud_offline"
STUD_BACK = "parking.stud_back"
LOW_BATTERY = "parking.low_battery"
BATTERY_OK = "parking.battery_ok"
TAMPER = "parking.tamper"
TAMPER_CLEAR = "parking.tamper_clear"
OVER_CAPACITY = "parking.over_capacity"
OVER_CAPACITY_CLEAR = "parking.over_capacity_clear"
NO_PARKING = "parking.no_parking"
NO_PARKING_CLEAR = "parking.no_parking_clear"
SNAPSHOT = "parking.snapshot"

STUD_EVENTS = (STUD_OFFLINE, STUD_BACK, LOW_BATTERY, BATTERY_OK, TAMPER, TAMPER_CLEAR)

StudId = Annotated[int, Field(ge=1, le=0xFFFFFFFF)]
AreaId = Annotated[int, Field(ge=0, le=0xFFFF)]
Micros = Annotated[int, Field(ge=0, le=(2**63 - 1) // 1000)]
Name = Annotated[str, Field(max_length=100)]
AreaName = Literal["bay", "no_parking", "unassigned"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudHealth(_Model):
    """Data of the stud events (offline, back, low battery, battery ok, tamper…)."""

    stud: StudId
    area: AreaName
    area_id: AreaId
    at_us: Micros
    last_seen_us: Micros | None = None
    battery_mv: int | None = Field(default=None, ge=0, le=65535)
    rssi_dbm: float | None = Field(default=None, ge=-127, le=20)


class BayOccupancy(_Model):
    """Data of ``parking.over_capacity`` and ``parking.over_capacity_clear``."""

    bay: AreaId
    name: Name | None = None
    bikes: int = Field(ge=0, le=10000)
    capacity: int = Field(ge=0, le=10000)
    at_us: Micros


class ZoneOccupancy(_Model):
    """Data of ``parking.no_parking`` and ``parking.no_parking_clear``."""

    zone: AreaId
    name: Name | None = None
    bikes: int = Field(ge=0, le=10000)
    studs: list[StudId] = Field(default_factory=list, max_length=256)
    at_us: Micros


class BayState(_Model):
    bay: AreaId
    name: Name | None = None
    capacity: int = Field(ge=0, le=10000)
    bikes: int = Field(ge=0, le=10000)
    studs_total: int = Field(ge=0)
    studs_healthy: int = Field(ge=0)
    over_capacity: bool = False


class ZoneState(_Model):
    zone: AreaId
    name: Name | None = None
    bikes: int = Field(ge=0, le=10000)


class StudState(_Model):
    stud: StudId
    area: AreaName
    area_id: AreaId
    online: bool
    last_seen_us: Micros | None = None
    battery_mv: int | None = Field(default=None, ge=0, le=65535)
    rssi_dbm: float | None = Field(default=None, ge=-127, le=20)
    tamper: bool = False
    low_battery: bool = False
    bikes: float = Field(default=0.0, ge=0, description="bikes over it (shares), debounced")


class ParkingSnapshot(_Model):
    """Data of ``parking.snapshot``: everything the box knows, as of ``at_us``."""

    at_us: Micros
    bays: list[BayState] = Field(default_factory=list, max_length=500)
    zones: list[ZoneState] = Field(default_factory=list, max_length=500)
    studs: list[StudState] = Field(default_factory=list, max_length=1000)
