"""Ground truth of a generated capture: the site (bays, no-parking zones, studs, where
they are) and what really happened (bikes parked, studs silent, low, tampered).
``capture/README.md`` describes the JSON; :func:`load_truth` reads it into these types."""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

AreaName = Literal["bay", "no_parking"]
VisitKind = Literal["parked", "roll_past"]


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start, end)`` in capture seconds."""

    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end


def covers(intervals: tuple[Interval, ...], t: float) -> bool:
    """Whether ``t`` lies in one of ``intervals`` (sorted, not overlapping)."""
    k = bisect_right(intervals, t, key=lambda i: i.start) - 1
    return k >= 0 and t in intervals[k]


@dataclass(frozen=True, slots=True)
class Place:
    """A point: metres east (``x_m``) and north (``y_m``) of the listening box, and WGS-84."""

    x_m: float
    y_m: float
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Space:
    """One marked space of a bay and the studs a bike standing in it is over."""

    space: int
    stud_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BayTruth:
    """A parking bay: studs every 1.5 m along its centre line."""

    bay_id: int
    name: str
    capacity: int
    stud_ids: tuple[int, ...]
    spaces: tuple[Space, ...]
    centre: Place
    length_m: float
    heading_deg: float
    """Direction of the centre line from its first stud, degrees clockwise from north."""
    parked_per_minute: tuple[int, ...]
    """Bikes parked at t = 60·m for m = 0 … duration/60 (roll-pasts not counted)."""


@dataclass(frozen=True, slots=True)
class ZoneTruth:
    """A no-parking zone (fire lane, tactile paving…) with studs in it."""

    zone_id: int
    name: str
    stud_ids: tuple[int, ...]
    centre: Place
    parked_per_minute: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StudTruth:
    """One stud: where it is, what it sends, and its true history."""

    stud_id: int
    address: str
    area: AreaName
    area_id: int
    place: Place
    frames: tuple[str, ...]
    """Frame kinds it sends: ``stud`` (every second), ``ibeacon``, ``eddystone_uid``,
    ``eddystone_tlm``."""
    silent: tuple[Interval, ...]
    """When it sends nothing (broken, dead battery); alive the rest of the time."""
    occupied: tuple[Interval, ...]
    """When a bike (parked or rolling past) is over it."""
    low_battery: tuple[Interval, ...]
    """When its battery is below the truth's ``low_battery_mv`` (while it still sends)."""
    tampered: tuple[Interval, ...]
    """When its tamper flag is up; its occupancy flag is meaningless then."""
    reboots: tuple[float, ...]
    """When it restarted (sequence number back to 0, TLM counters reset)."""


@dataclass(frozen=True, slots=True)
class Visit:
    """A bike over studs: parked (counts) or rolling past for a few seconds (does not).
    A parked visit still going at the end of the capture has ``end == duration_s``."""

    bike_id: int
    kind: VisitKind
    area: AreaName
    area_id: int
    start: float
    end: float
    stud_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Overfill:
    """A time a bay held more parked bikes than its capacity."""

    bay_id: int
    start: float
    end: float
    peak: int


@dataclass(frozen=True, slots=True)
class ForeignDevice:
    """A device that is not one of our studs (phones, a shop's beacon, a prototype)."""

    address: str
    kind: str


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """Everything the generator knows about its capture."""

    seed: int
    duration_s: float
    start_local: str
    """Capture t = 0 as local time (ISO 8601, Shanghai)."""
    box: Place
    advertising_interval_s: float
    low_battery_mv: int
    bays: tuple[BayTruth, ...]
    zones: tuple[ZoneTruth, ...]
    studs: tuple[StudTruth, ...]
    visits: tuple[Visit, ...]
    overfill: tuple[Overfill, ...]
    foreign_devices: tuple[ForeignDevice, ...]
    records: int
    """Records in the capture (the corrupt lines not counted)."""
    expected_skips: dict[str, int] = field(default_factory=dict)
    """What ``decode_advertisement`` counts over the whole capture, by skip reason."""
    corrupt_lines: dict[str, int] = field(default_factory=dict)
    """Corrupt lines planted in the capture, by replay counter name."""
    format: int = 1

    def alive(self, stud_id: int) -> tuple[Interval, ...]:
        """When the stud sends: the capture's span less its silent intervals."""
        out = []
        t = 0.0
        for quiet in self.stud(stud_id).silent:
            if quiet.start > t:
                out.append(Interval(t, quiet.start))
            t = max(t, quiet.end)
        if t < self.duration_s:
            out.append(Interval(t, self.duration_s))
        return tuple(out)

    def stud(self, stud_id: int) -> StudTruth:
        """The stud with this id (KeyError if none)."""
        for stud in self.studs:
            if stud.stud_id == stud_id:
                return stud
        raise KeyError(stud_id)


def truth_to_json(truth: GroundTruth) -> str:
    """The ground truth as indented JSON (stable key order)."""
    return json.dumps(asdict(truth), indent=1) + "\n"


def _place(d: dict[str, Any]) -> Place:
    return Place(d["x_m"], d["y_m"], d["lat"], d["lon"])


def _intervals(items: list[dict[str, float]]) -> tuple[Interval, ...]:
    return tuple(Interval(i["start"], i["end"]) for i in items)


def truth_from_json(text: str) -> GroundTruth:
    """Parse what :func:`truth_to_json` wrote."""
    d = json.loads(text)
    if d.get("format") != 1:
        raise ValueError(f"ground truth format {d.get('format')!r}, want 1")
    return GroundTruth(
        seed=d["seed"],
        duration_s=d["duration_s"],
        start_local=d["start_local"],
        box=_place(d["box"]),
        advertising_interval_s=d["advertising_interval_s"],
        low_battery_mv=d["low_battery_mv"],
        bays=tuple(
            BayTruth(
                b["bay_id"],
                b["name"],
                b["capacity"],
                tuple(b["stud_ids"]),
                tuple(Space(s["space"], tuple(s["stud_ids"])) for s in b["spaces"]),
                _place(b["centre"]),
                b["length_m"],
                b["heading_deg"],
                tuple(b["parked_per_minute"]),
            )
            for b in d["bays"]
        ),
        zones=tuple(
            ZoneTruth(
                z["zone_id"],
                z["name"],
                tuple(z["stud_ids"]),
                _place(z["centre"]),
                tuple(z["parked_per_minute"]),
            )
            for z in d["zones"]
        ),
        studs=tuple(
            StudTruth(
                s["stud_id"],
                s["address"],
                s["area"],
                s["area_id"],
                _place(s["place"]),
                tuple(s["frames"]),
                _intervals(s["silent"]),
                _intervals(s["occupied"]),
                _intervals(s["low_battery"]),
                _intervals(s["tampered"]),
                tuple(s["reboots"]),
            )
            for s in d["studs"]
        ),
        visits=tuple(
            Visit(
                v["bike_id"],
                v["kind"],
                v["area"],
                v["area_id"],
                v["start"],
                v["end"],
                tuple(v["stud_ids"]),
            )
            for v in d["visits"]
        ),
        overfill=tuple(
            Overfill(o["bay_id"], o["start"], o["end"], o["peak"]) for o in d["overfill"]
        ),
        foreign_devices=tuple(ForeignDevice(f["address"], f["kind"]) for f in d["foreign_devices"]),
        records=d["records"],
        expected_skips=dict(d["expected_skips"]),
        corrupt_lines=dict(d["corrupt_lines"]),
        format=d["format"],
    )


def load_truth(path: Path) -> GroundTruth:
    """Read a ground-truth JSON file."""
    return truth_from_json(path.read_text(encoding="utf-8"))
