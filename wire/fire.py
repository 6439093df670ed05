"""The fire part of the contract: what fire events carry (``Event.data``).

Event types (``Event.type``):

* ``fire.prealarm`` / ``fire.alarm``: a detector (or the panel) says fire;
* ``fire.alarm_restore``: the condition behind a pre-alarm or alarm went away
  (the cloud shows the alert as *cleared by the device*);
* ``fire.trouble`` / ``fire.trouble_restore``: communication lost, low battery,
  dirty chamber, a panel trouble or supervisory signal — each its own kind;
* ``fire.confirmed``: the zone's fire is confirmed for linkage — two independent
  detectors in alarm (GB 50116's two-device rule) or a person confirmed it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PREALARM = "fire.prealarm"
ALARM = "fire.alarm"
ALARM_RESTORE = "fire.alarm_restore"
TROUBLE = "fire.trouble"
TROUBLE_RESTORE = "fire.trouble_restore"
CONFIRMED = "fire.confirmed"

Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]


class Cause(StrEnum):
    """Why a detector went into pre-alarm or alarm."""

    FIXED_TEMPERATURE = "fixed_temperature"
    RATE_OF_RISE = "rate_of_rise"
    OBSCURATION = "obscuration"
    DEVICE = "device"  # the detector's own alarm bit
    PANEL = "panel"  # the fire alarm panel printed it
    MANUAL = "manual"  # a manual call point or a person


class TroubleKind(StrEnum):
    COMM_LOST = "comm_lost"
    LOW_BATTERY = "low_battery"
    DIRTY_CHAMBER = "dirty_chamber"
    DEVICE_FAULT = "device_fault"
    PANEL_TROUBLE = "panel_trouble"
    SUPERVISORY = "supervisory"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FireAlarm(_Model):
    """Data of ``fire.prealarm``, ``fire.alarm`` and ``fire.alarm_restore``."""

    zone: Ident
    detector: Ident
    cause: Cause
    value: float | None = Field(default=None, description="°C, %/m or °C/min, per cause")
    threshold: float | None = None
    label: str | None = Field(default=None, max_length=200)
    verified_s: float | None = Field(
        default=None, ge=0, le=60, description="alarm verification window it passed"
    )


class FireTrouble(_Model):
    """Data of ``fire.trouble`` and ``fire.trouble_restore``."""

    zone: Ident
    detector: Ident
    trouble: TroubleKind
    detail: str | None = Field(default=None, max_length=200)


class FireConfirmed(_Model):
    """Data of ``fire.confirmed``."""

    zone: Ident
    rule: Literal["two_detectors", "person"]
    detectors: list[Ident] = Field(default_factory=list, max_length=64)
    by: str | None = Field(default=None, max_length=64, description="who confirmed (person)")
