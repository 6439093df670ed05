"""The site map: buildings, zones, detectors, micro fire stations, joint-defence teams,
boxes and notification channels, loaded from a TOML file at start.

Coordinates are metres east (x) and north (y) of an origin of the operator's choice;
"nearest" is straight-line distance, which at the scale of a subdistrict is what the
fire team reasons with first.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Building(_Item):
    id: Ident
    name: str
    site: Ident
    kind: Literal["residential", "commercial", "office", "other"] = "residential"
    x: float
    y: float
    floors: int = Field(default=1, ge=1)
    occupants: int | None = Field(default=None, ge=0, description="expected headcount")
    property_manager: Ident | None = Field(default=None, description="channel for work orders")


class Zone(_Item):
    id: Ident
    building: Ident
    floor: int | None = None
    label: str = ""


class Detector(_Item):
    id: Ident
    zone: Ident
    kind: Literal["smoke", "heat", "multi", "manual", "panel"] = "smoke"
    label: str = ""


class Station(_Item):
    id: Ident
    name: str
    kind: Literal["residential", "commercial"]
    x: float
    y: float
    staff: int = Field(default=0, ge=0)
    phone: str | None = None
    channel: Ident | None = Field(default=None, description="where dispatch orders go")


class Team(_Item):
    """A joint-defence team of street-front shops (ten units and a captain)."""

    id: Ident
    name: str
    captain: str
    members: list[str] = Field(default_factory=list)
    channel: Ident | None = None


class Box(_Item):
    id: Ident
    site: Ident
    building: Ident | None = None


class ParkingBay(_Item):
    """A marked bike bay: a line of studs from its centre ``x``, ``y`` along ``heading_deg``
    (degrees clockwise from north), ``length_m`` long."""

    id: int = Field(ge=1, le=0xFFFF)
    site: Ident
    name: str = ""
    capacity: int = Field(ge=0)
    x: float
    y: float
    length_m: float = Field(default=15.0, gt=0)
    heading_deg: float = 90.0


class NoParkingZone(_Item):
    id: int = Field(ge=1, le=0xFFFF)
    site: Ident
    name: str = ""
    x: float
    y: float
    length_m: float = Field(default=4.5, gt=0)
    heading_deg: float = 90.0


Category = Literal["fire", "parking", "supervision"]


def _fire_only() -> list[Category]:
    return ["fire"]


class Channel(_Item):
    id: Ident
    kind: Literal["webhook", "wechat_work"]
    url: str
    categories: list[Category] = Field(default_factory=_fire_only)
    events: list[str] = Field(
        default_factory=lambda: ["opened", "escalated", "confirmed"],
        description="which alert changes it hears (dispatch and work orders go by address)",
    )


class SiteMap(_Item):
    name: str = "Tianshan Road"
    buildings: list[Building] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    detectors: list[Detector] = Field(default_factory=list)
    stations: list[Station] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)
    boxes: list[Box] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    parking_bays: list[ParkingBay] = Field(default_factory=list)
    no_parking_zones: list[NoParkingZone] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> SiteMap:
        problems: list[str] = []

        def unique(kind: str, ids: list[str]) -> set[str]:
            seen: set[str] = set()
            for i in ids:
                if i in seen:
                    problems.append(f"{kind} {i!r} is defined twice")
                seen.add(i)
            return seen

        buildings = unique("building", [b.id for b in self.buildings])
        zones = unique("zone", [z.id for z in self.zones])
        channels = unique("channel", [c.id for c in self.channels])
        unique("station", [s.id for s in self.stations])
        unique("detector", [d.id for d in self.detectors])
        for z in self.zones:
            if z.building not in buildings:
                problems.append(f"zone {z.id!r}: no building {z.building!r}")
        for d in self.detectors:
            if d.zone not in zones:
                problems.append(f"detector {d.id!r}: no zone {d.zone!r}")
        for b in self.boxes:
            if b.building is not None and b.building not in buildings:
                problems.append(f"box {b.id!r}: no building {b.building!r}")
        named = [(f"building {b.id!r}", b.property_manager) for b in self.buildings]
        named += [(f"station {s.id!r}", s.channel) for s in self.stations]
        named += [(f"team {t.id!r}", t.channel) for t in self.teams]
        for where, channel in named:
            if channel is not None and channel not in channels:
                problems.append(f"{where}: no channel {channel!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- look-ups -----------------------------------------------------------------------------

    def building(self, building_id: str) -> Building | None:
        return next((b for b in self.buildings if b.id == building_id), None)

    def zone(self, zone_id: str) -> Zone | None:
        return next((z for z in self.zones if z.id == zone_id), None)

    def station(self, station_id: str) -> Station | None:
        return next((s for s in self.stations if s.id == station_id), None)

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def building_of_zone(self, zone_id: str) -> Building | None:
        zone = self.zone(zone_id)
        return self.building(zone.building) if zone else None

    def parking_bay(self, site: str, bay_id: int) -> ParkingBay | None:
        return next((b for b in self.parking_bays if (b.site, b.id) == (site, bay_id)), None)

    def site_of_box(self, box_id: str) -> str | None:
        box = next((b for b in self.boxes if b.id == box_id), None)
        return box.site if box else None

    def nearest_stations(
        self, building_id: str, *, per_kind: int = 2
    ) -> list[tuple[Station, float]]:
        """The ``per_kind`` nearest residential and commercial stations, nearest first."""
        where = self.building(building_id)
        if where is None:
            return []
        out: list[tuple[Station, float]] = []
        for kind in ("residential", "commercial"):
            ranked = sorted(
                (
                    (s, math.dist((where.x, where.y), (s.x, s.y)))
                    for s in self.stations
                    if s.kind == kind
                ),
                key=lambda pair: pair[1],
            )
            out += ranked[:per_kind]
        return sorted(out, key=lambda pair: pair[1])


class SiteMapError(ValueError):
    """The site map file cannot be read or does not hold together."""


def load_site_map(path: Path | None) -> SiteMap:
    if path is None:
        return SiteMap()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SiteMapError(f"cannot read site map {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SiteMapError(f"site map {path} is not valid TOML: {exc}") from None
    try:
        return SiteMap.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SiteMapError(f"site map {path}: {where}: {first['msg']}") from None
