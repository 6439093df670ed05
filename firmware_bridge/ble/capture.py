"""Generate a capture and its ground truth: one listening box beside six bike bays and two
no-parking zones around two office towers, over one simulated hour of a weekday morning.

    python -m firmware_bridge.ble.capture --out DIR [--seed N] [--duration S]

writes ``DIR/adverts.csv.xz`` (format: ``capture_file``) and ``DIR/truth.json`` (format:
``truth``; both described in ``capture/README.md``). The same seed and duration give the
same bytes. Every scripted incident (overfill, silent, dead, low, tampered studs, a bike
in a no-parking zone) is placed at a fraction of the duration, so a short capture for a
test still holds them all; the random traffic (bikes, roll-pasts, phones) has the same
expected amount at any duration, compressed in time."""

from __future__ import annotations

import argparse
import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from firmware_bridge.ble.ad import (
    AD_COMPLETE_LOCAL_NAME,
    AD_FLAGS,
    AD_MANUFACTURER_DATA,
    AD_SERVICE_DATA_16,
    AD_TX_POWER,
    FLAGS_LE_ONLY,
    ad_structure,
)
from firmware_bridge.ble.capture_file import LineError, write_capture
from firmware_bridge.ble.crc8 import crc8
from firmware_bridge.ble.eddystone import (
    UUID_LIST_AD,
    encode_eddystone_tlm,
    encode_eddystone_uid,
)
from firmware_bridge.ble.ibeacon import encode_ibeacon
from firmware_bridge.ble.readings import (
    AreaKind,
    EddystoneTlm,
    EddystoneUid,
    IBeacon,
    StudStatus,
)
from firmware_bridge.ble.skips import SkipReason
from firmware_bridge.ble.source import AdvertisementRecord
from firmware_bridge.ble.stud_frame import encode_stud_status
from firmware_bridge.ble.truth import (
    AreaName,
    BayTruth,
    ForeignDevice,
    GroundTruth,
    Interval,
    Overfill,
    Place,
    Space,
    StudTruth,
    Visit,
    ZoneTruth,
    truth_to_json,
)

CAPTURE_NAME = "adverts.csv.xz"
TRUTH_NAME = "truth.json"
DEFAULT_OUT = Path(__file__).with_name("capture")

START_LOCAL = "2025-03-18T08:15:00+08:00"  # a Tuesday: the morning rush peaks mid-hour
LAT0, LON0 = 31.23720, 121.50210  # the box, in Lujiazui
METRES_PER_DEG_LAT = 111_320.0
INTERVAL_S = 1.0
LOW_BATTERY_MV = 2500
STUD_SPACING_M = 1.5
STUDS_PER_BAY = 10
BAY_LENGTH_M = STUDS_PER_BAY * STUD_SPACING_M
DETECT_RADIUS_M = 0.8  # a steel frame this close along the line trips a stud
PARKING_UUID = UUID("6f1c2a9e-3b57-4d0e-9a51-5e6a0c2b7d10")
EDDYSTONE_NAMESPACE = bytes.fromhex("a1d4c0de5ea15a1e0000")

# Radio: log-distance path loss from the studs' -55 dBm at 1 m (low power, under a lid
# in the pavement), a box antenna 3 m up, shadowing, and losses near the sensitivity.
RSSI_1M = -55.0
PATH_LOSS_EXPONENT = 2.2
ANTENNA_HEIGHT_M = 3.0
BIKE_ATTENUATION_DB = 5.0
LIFTED_GAIN_DB = 6.0
LOSS_MIDPOINT_DBM = -93.0
# Magnetometer: a parked bike's steel shifts the field over a stud by about 12 µT (bikes
# of one fleet differ little); a bike standing between two studs shifts each by its
# share, and bikes squeezed in over one stud add up (fields superpose). The edge counts
# bikes from the summed shift, so it can tell a stud shared by two bikes.
BIKE_FIELD_UT = 12.0
BIKE_FIELD_SPREAD_UT = 1.2


@dataclass(frozen=True, slots=True)
class _AreaSpec:
    area: AreaName
    area_id: int
    name: str
    x: float
    y: float
    heading_deg: float
    studs: int
    capacity: int = 0
    weight: float = 0.0  # share of arriving bikes


_BAYS = (
    _AreaSpec("bay", 1, "Tower A north kerb", -27.0, 11.0, 90.0, STUDS_PER_BAY, 10, 1.0),
    _AreaSpec("bay", 2, "Tower A plaza", -10.0, 11.0, 90.0, STUDS_PER_BAY, 12, 1.2),
    _AreaSpec("bay", 3, "Metro exit 5", 8.0, 12.0, 90.0, STUDS_PER_BAY, 10, 1.8),
    _AreaSpec("bay", 4, "Tower B north kerb", 25.0, 11.0, 90.0, STUDS_PER_BAY, 12, 1.2),
    _AreaSpec("bay", 5, "Tower A side street", -20.0, -14.0, 90.0, STUDS_PER_BAY, 8, 0.8),
    _AreaSpec("bay", 6, "Tower B loading lane", 16.0, -15.0, 0.0, STUDS_PER_BAY, 10, 1.0),
)
_ZONES = (
    _AreaSpec("no_parking", 1, "Tower A fire lane", -3.0, -6.0, 90.0, 3),
    _AreaSpec("no_parking", 2, "Metro exit 5 tactile paving", 8.0, 4.0, 0.0, 3),
)

# Two firmware batches send more than the status frame: bays 1-2 an iBeacon (for the
# riders' app) and TLM, bay 5 Eddystone-UID and TLM. The rest send status frames only.
_FIRMWARE_FRAMES = {
    1: ("stud", "ibeacon", "eddystone_tlm"),
    2: ("stud", "ibeacon", "eddystone_tlm"),
    5: ("stud", "eddystone_uid", "eddystone_tlm"),
}

# Scripted incidents, at fractions of the duration.
OVERFILL_BAY = 3
FILL_WINDOW = (0.42, 0.55)
TRUCK_AT = 0.80
BROKEN_STUD, BROKEN_SILENT = 2004, (0.33, 0.47)  # comes back, rebooted
DYING_STUD, DYING_FROM_MV, DEAD_MV, DEAD_AT = 4007, 2560, 2150, 0.66
LOW_STUD, LOW_MV = 6003, 2430
TAMPER_STUD, TAMPER_WINDOW = 3002, (0.40, 0.72)
WRAP_STUD = 1005  # its sequence number wraps early in the capture
NO_TEMPERATURE_STUD = 1003  # its TLM says "temperature not supported"
ZONE_PARKINGS = ((1, 0.28, 0.45), (2, 0.62, 1.0))  # zone, from, to (1.0: still there)

ROLL_PASTS = 40
ARRIVALS_EXPECTED = 70
INJECT_P = 0.0002  # per status frame, for each kind of damaged frame


def stud_address(stud_id: int) -> str:
    """A stud's static random address (top bits 11, as static random addresses need)."""
    return f"D5:7B:00:00:{stud_id >> 8 & 0xFF:02X}:{stud_id & 0xFF:02X}"


def _ms(t: float) -> float:
    return round(t, 3)


def _place(x: float, y: float) -> Place:
    lat = LAT0 + y / METRES_PER_DEG_LAT
    lon = LON0 + x / (METRES_PER_DEG_LAT * math.cos(math.radians(LAT0)))
    return Place(round(x, 2), round(y, 2), round(lat, 7), round(lon, 7))


@dataclass(slots=True)
class _Stud:
    stud_id: int
    spec: _AreaSpec
    offset: float  # along the area's line from its centre, metres
    x: float
    y: float
    frames: tuple[str, ...]


@dataclass(slots=True)
class _Bike:
    bike_id: int
    spec: _AreaSpec
    start: float
    end: float
    studs: tuple[int, ...]
    space: int | None
    strength_ut: float


@dataclass(slots=True)
class _Tally:
    """Records and the skips they must cause, by construction."""

    records: list[AdvertisementRecord] = field(default_factory=list)
    skips: Counter[str] = field(default_factory=Counter)

    def add(self, t: float, address: str, rssi: int, data: bytes, *skips: SkipReason) -> None:
        self.records.append(AdvertisementRecord(_ms(t), address, rssi, data))
        for reason in skips:
            self.skips[reason.value] += 1


@dataclass(frozen=True, slots=True)
class Capture:
    """A generated capture in memory: records in time order, planted corrupt lines, truth."""

    records: list[AdvertisementRecord]
    corrupt_lines: list[str]
    truth: GroundTruth


def _layout() -> tuple[list[_Stud], dict[int, list[_Stud]]]:
    studs: list[_Stud] = []
    by_area: dict[int, list[_Stud]] = {}
    for spec in (*_BAYS, *_ZONES):
        dx = math.sin(math.radians(spec.heading_deg))
        dy = math.cos(math.radians(spec.heading_deg))
        length = spec.studs * STUD_SPACING_M
        members = []
        for j in range(spec.studs):
            offset = -length / 2 + STUD_SPACING_M / 2 + j * STUD_SPACING_M
            if spec.area == "bay":
                stud_id = 1000 * spec.area_id + j + 1
                kinds = _FIRMWARE_FRAMES.get(spec.area_id, ("stud",))
            else:
                stud_id = 9000 + 10 * spec.area_id + j + 1
                kinds = ("stud",)
            stud = _Stud(stud_id, spec, offset, spec.x + dx * offset, spec.y + dy * offset, kinds)
            members.append(stud)
        studs.extend(members)
        by_area[_area_key(spec)] = members
    return studs, by_area


def _area_key(spec: _AreaSpec) -> int:
    return spec.area_id if spec.area == "bay" else -spec.area_id


def _covered(
    members: list[_Stud], position: float, rng: random.Random, askew_p: float
) -> tuple[int, ...]:
    """Studs a bike at ``position`` (along the line) is over: those within the detection
    radius, at least the nearest, and sometimes (parked askew) its nearer neighbour too."""
    by_distance = sorted(members, key=lambda s: abs(s.offset - position))
    hit = [s for s in by_distance if abs(s.offset - position) <= DETECT_RADIUS_M] or by_distance[:1]
    if len(hit) == 1 and rng.random() < askew_p and len(by_distance) > 1:
        hit.append(by_distance[1])
    return tuple(sorted(s.stud_id for s in hit[:2]))


def _spaces(spec: _AreaSpec, members: list[_Stud]) -> list[tuple[int, ...]]:
    pitch = BAY_LENGTH_M / spec.capacity
    out = []
    for k in range(spec.capacity):
        centre = -BAY_LENGTH_M / 2 + (k + 0.5) * pitch
        near = [s.stud_id for s in members if abs(s.offset - centre) <= DETECT_RADIUS_M]
        if not near:
            near = [min(members, key=lambda s: abs(s.offset - centre)).stud_id]
        out.append(tuple(sorted(near)))
    return out


def _arrival_rate(x: float) -> float:
    """Relative arrival rate at fraction ``x`` of the hour: a rush peaking mid-hour."""
    return 0.25 + math.exp(-0.5 * ((x - 0.5) / 0.17) ** 2)


class _BikeSim:
    """Bikes arriving, parking in spaces (or squeezing in when the bay is full), leaving;
    the scripted overfill of one bay and the operator's truck that clears it."""

    def __init__(
        self,
        rng: random.Random,
        duration: float,
        by_area: dict[int, list[_Stud]],
        spaces: dict[int, list[tuple[int, ...]]],
    ) -> None:
        self.rng = rng
        self.duration = duration
        self.by_area = by_area
        self.spaces = spaces
        self.bikes: list[_Bike] = []
        self.mean_stay = 0.8 * duration
        self.min_stay = 0.05 * duration

    def present(self, spec: _AreaSpec, t: float) -> list[_Bike]:
        return [b for b in self.bikes if b.spec is spec and b.start <= t < b.end]

    def park(self, t: float, spec: _AreaSpec, stay: float | None = None) -> None:
        rng = self.rng
        members = self.by_area[_area_key(spec)]
        if stay is None:
            stay = max(self.min_stay, rng.expovariate(1 / self.mean_stay))
        space: int | None = None
        if spec.area == "no_parking":
            studs = _covered(members, rng.uniform(-1.5, 1.5), rng, 0.3)
        else:
            used = {b.space for b in self.present(spec, t)}
            free = [k for k in range(spec.capacity) if k not in used]
            if free:
                space = rng.choice(free)
                studs = self.spaces[spec.area_id][space]
                if len(studs) == 1 and rng.random() < 0.2:  # parked askew over two
                    studs = _covered(members, _space_centre(spec, space), rng, 1.0)
            else:  # full: squeezed in anywhere along the bay
                studs = _covered(members, rng.uniform(-7.2, 7.2), rng, 0.3)
        end = _ms(min(self.duration, t + stay))
        strength = rng.uniform(
            BIKE_FIELD_UT - BIKE_FIELD_SPREAD_UT, BIKE_FIELD_UT + BIKE_FIELD_SPREAD_UT
        )
        self.bikes.append(_Bike(len(self.bikes) + 1, spec, _ms(t), end, studs, space, strength))

    def fill(self, t: float, spec: _AreaSpec, events: list[tuple[float, int, str, int]]) -> None:
        """Make sure the bay overfills: enough extra arrivals in the fill window, staying
        until the truck comes."""
        missing = spec.capacity + 4 - len(self.present(spec, t))
        span = (FILL_WINDOW[1] - FILL_WINDOW[0]) * self.duration
        for k in range(max(0, missing)):
            at = _ms(t + span * (k + self.rng.random()) / missing)
            heapq.heappush(events, (at, 1, "arrive-long", spec.area_id))

    def truck(self, t: float, spec: _AreaSpec) -> None:
        """The operator's truck takes bikes until the bay is half full, overflow first."""
        present = sorted(self.present(spec, t), key=lambda b: (b.space is not None, b.bike_id))
        step = max(2.0, 10.0 * self.duration / 3600)
        for k, bike in enumerate(present[: max(0, len(present) - spec.capacity // 2)]):
            bike.end = min(bike.end, _ms(t + step * (k + 1)))

    def arrivals(self) -> list[tuple[float, int, str, int]]:
        """The rush: a non-homogeneous Poisson process (by thinning), bays by weight."""
        rng = self.rng
        peak_rate = ARRIVALS_EXPECTED / self.duration / 0.68  # 0.68: the shape's mean
        weights = [b.weight for b in _BAYS]
        events: list[tuple[float, int, str, int]] = []
        t = 0.0
        while True:
            t += rng.expovariate(peak_rate * 1.25)
            if t >= self.duration:
                return events
            if rng.random() * 1.25 <= _arrival_rate(t / self.duration):
                bay = rng.choices(_BAYS, weights=weights)[0]
                events.append((_ms(t), 1, "arrive", bay.area_id))

    def run(self) -> list[_Bike]:
        for spec in _BAYS:  # bikes left from the night before
            for _ in range(round(spec.capacity * self.rng.uniform(0.2, 0.5))):
                self.park(0.0, spec)
        duration = self.duration
        events = self.arrivals()
        events.append((_ms(FILL_WINDOW[0] * duration), 0, "fill", OVERFILL_BAY))
        events.append((_ms(TRUCK_AT * duration), 0, "truck", OVERFILL_BAY))
        for zone_id, frm, _ in ZONE_PARKINGS:
            events.append((_ms(frm * duration), 2, "zone", zone_id))
        heapq.heapify(events)
        bays = {b.area_id: b for b in _BAYS}
        zones = {z.area_id: z for z in _ZONES}
        while events:
            t, _, kind, area_id = heapq.heappop(events)
            if kind == "arrive":
                self.park(t, bays[area_id])
            elif kind == "arrive-long":
                self.park(t, bays[area_id], stay=duration)
            elif kind == "fill":
                self.fill(t, bays[area_id], events)
            elif kind == "truck":
                self.truck(t, bays[area_id])
            else:
                to = next(to for z, _, to in ZONE_PARKINGS if z == area_id)
                self.park(t, zones[area_id], stay=to * duration - t)
        return self.bikes


def _space_centre(spec: _AreaSpec, space: int) -> float:
    return -BAY_LENGTH_M / 2 + (space + 0.5) * BAY_LENGTH_M / spec.capacity


def _roll_pasts(
    rng: random.Random, duration: float, by_area: dict[int, list[_Stud]], first_id: int
) -> list[tuple[Visit, dict[int, Interval]]]:
    out = []
    areas = [*_BAYS, *_ZONES]
    for k in range(ROLL_PASTS):
        spec = rng.choice(areas) if rng.random() < 0.25 else rng.choice(_BAYS)
        members = by_area[_area_key(spec)]
        n = rng.randint(1, min(3, len(members)))
        j = rng.randrange(len(members) - n + 1)
        path = members[j : j + n]
        if rng.random() < 0.5:
            path = path[::-1]
        t = min(rng.uniform(0.02, 0.97) * duration, duration - 10)  # over before the end
        per_stud: dict[int, Interval] = {}
        for stud in path:
            dwell = rng.uniform(1.0, 3.0)
            per_stud[stud.stud_id] = Interval(_ms(t), _ms(t + dwell))
            t += rng.uniform(0.8, 1.5)
        visit = Visit(
            first_id + k,
            "roll_past",
            spec.area,
            spec.area_id,
            min(i.start for i in per_stud.values()),
            max(i.end for i in per_stud.values()),
            tuple(sorted(per_stud)),
        )
        out.append((visit, per_stud))
    return out


def _merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for i in sorted(intervals, key=lambda i: (i.start, i.end)):
        if merged and i.start <= merged[-1].end:
            if i.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, i.end)
        else:
            merged.append(i)
    return tuple(merged)


class _Radio:
    """What the box hears of a transmitter at a place: RSSI with noise, or nothing."""

    def __init__(self, rng: random.Random, x: float, y: float) -> None:
        d = math.sqrt(x * x + y * y + ANTENNA_HEIGHT_M**2)
        self._mean = RSSI_1M - 10 * PATH_LOSS_EXPONENT * math.log10(d) + rng.gauss(0, 2.0)
        self._rng = rng

    def hear(self, extra_db: float = 0.0) -> int | None:
        rssi = self._mean + extra_db + self._rng.gauss(0, 3.0)
        p_loss = 0.03 + 0.97 / (1 + math.exp((rssi - LOSS_MIDPOINT_DBM) / 2.0))
        if self._rng.random() < p_loss:
            return None
        return max(-127, min(20, round(rssi)))


class _Occupancy:
    """Which bikes are over one stud when, for the status frames."""

    def __init__(self, spans: list[tuple[float, float, float]]) -> None:
        self._spans = sorted(spans)

    def field_at(self, t: float) -> float:
        """Summed field shift of the bikes over the stud at ``t`` (0: none)."""
        total = 0.0
        for start, end, strength in self._spans:
            if start > t:
                break
            if t < end:
                total += strength
        return total


@dataclass(frozen=True, slots=True)
class _Script:
    """One stud's scripted history."""

    silent: tuple[Interval, ...] = ()
    low_battery: tuple[Interval, ...] = ()
    tampered: tuple[Interval, ...] = ()
    reboots: tuple[float, ...] = ()


def _script(stud_id: int, duration: float) -> _Script:
    def window(frm: float, to: float) -> Interval:
        return Interval(_ms(frm * duration), _ms(to * duration))

    if stud_id == BROKEN_STUD:
        silent = window(*BROKEN_SILENT)
        return _Script(silent=(silent,), reboots=(silent.end,))
    if stud_id == DYING_STUD:
        dead_at = _ms(DEAD_AT * duration)
        # The battery falls linearly, without noise, so the crossing time is exact.
        share = (DYING_FROM_MV - LOW_BATTERY_MV) / (DYING_FROM_MV - DEAD_MV)
        low_from = math.ceil(share * dead_at * 1000) / 1000
        return _Script(
            silent=(Interval(dead_at, _ms(duration)),),
            low_battery=(Interval(low_from, dead_at),),
        )
    if stud_id == LOW_STUD:
        return _Script(low_battery=(Interval(0.0, _ms(duration)),))
    if stud_id == TAMPER_STUD:
        return _Script(tampered=(window(*TAMPER_WINDOW),))
    return _Script()


class _StudEmitter:
    """Everything one stud sends that the box hears, into the tally."""

    def __init__(
        self, seed: int, stud: _Stud, duration: float, occupancy: _Occupancy, tally: _Tally
    ) -> None:
        self.rng = random.Random(f"{seed}:{stud.stud_id}")  # its own stream per stud
        self.stud = stud
        self.duration = duration
        self.occupancy = occupancy
        self.tally = tally
        self.script = _script(stud.stud_id, duration)
        self.radio = _Radio(self.rng, stud.x, stud.y)
        self.address = stud_address(stud.stud_id)
        self.healthy_mv = self.rng.randint(2920, 3060)
        self.first_boot = -self.rng.uniform(2, 40) * 86400
        self.phase = self.rng.uniform(0, INTERVAL_S)

    def silent(self, t: float) -> bool:
        return any(t in i for i in self.script.silent)

    def battery(self, t: float) -> int:
        if self.stud.stud_id == DYING_STUD:
            dead_at = self.script.silent[0].start
            return math.floor(DYING_FROM_MV - (DYING_FROM_MV - DEAD_MV) * t / dead_at)
        if self.stud.stud_id == LOW_STUD:
            return LOW_MV + self.rng.randint(-3, 3)
        return self.healthy_mv + self.rng.randint(-3, 3)

    def times(self, offset: float, period: float) -> Iterator[float]:
        """Send times (link-layer advDelay jitter included), skipping silent spells."""
        t_nominal = self.phase + offset
        while t_nominal < self.duration:
            t = _ms(t_nominal + self.rng.uniform(0, 0.010))
            t_nominal += period
            if t < self.duration and not self.silent(t):
                yield t

    def status_frames(self) -> None:
        rng = self.rng
        stud = self.stud
        kind = AreaKind.BAY if stud.spec.area == "bay" else AreaKind.NO_PARKING
        reboots = list(self.script.reboots)
        if stud.stud_id == WRAP_STUD:
            seq = 65536 - round(0.15 * self.duration / INTERVAL_S)
        else:
            seq = rng.randrange(65536)
        for t in self.times(0.0, INTERVAL_S):
            if reboots and t >= reboots[0]:
                seq = 0
                reboots.pop(0)
            tampered = any(t in i for i in self.script.tampered)
            field_ut = self.occupancy.field_at(t)
            if tampered:  # pried out of the pavement: the magnetometer sees nonsense
                reading, flag = rng.uniform(-80.0, 80.0), rng.random() < 0.3
            else:
                reading, flag = field_ut + rng.gauss(0, 0.5), field_ut > 0
            status = StudStatus(
                stud.stud_id,
                kind,
                stud.spec.area_id,
                flag,
                tampered,
                round(reading, 1),
                self.battery(t),
                seq,
            )
            seq = (seq + 1) & 0xFFFF
            data, skips = self.damage(FLAGS_LE_ONLY + encode_stud_status(status))
            gain = (-BIKE_ATTENUATION_DB if field_ut > 0 else 0.0) + (
                LIFTED_GAIN_DB if tampered else 0.0
            )
            rssi = self.radio.hear(gain)
            if rssi is not None:
                self.tally.add(t, self.address, rssi, data, *skips)

    def damage(self, data: bytes) -> tuple[bytes, tuple[SkipReason, ...]]:
        """Now and then a damaged frame instead (a firmware or HCI UART bug), with the
        skip it must cause."""
        rng = self.rng
        roll = rng.random()
        if roll < INJECT_P:  # one bit flipped after the version byte
            at = 8 + rng.randrange(14)  # payload offsets 8-21: stud id … CRC
            flipped = bytes((data[at] ^ (1 << rng.randrange(8)),))
            return data[:at] + flipped + data[at + 1 :], (SkipReason.BAD_CRC,)
        if roll < 2 * INJECT_P:  # cut short, with a length byte that admits it
            cut = rng.randint(1, 12)
            short = FLAGS_LE_ONLY + bytes((18 - cut,)) + data[4 : 22 - cut]
            return short, (SkipReason.TRUNCATED,)
        if roll < 3 * INJECT_P:  # cut short inside the AD structure
            return data[: rng.randint(5, 21)], (SkipReason.AD_TRUNCATED,)
        return data, ()

    def other_frames(self) -> None:
        stud = self.stud
        per_second = 1 / INTERVAL_S + sum(
            1 / period for frame, period, _ in _OTHER_FRAMES if frame in stud.frames
        )
        temperature_offset = self.rng.gauss(0, 0.7)
        beacon = encode_ibeacon(IBeacon(PARKING_UUID, stud.spec.area_id, stud.stud_id, -67))
        instance = stud.stud_id.to_bytes(6, "big")
        uid = encode_eddystone_uid(EddystoneUid(-22, EDDYSTONE_NAMESPACE, instance))
        for frame, period, offset in _OTHER_FRAMES:
            if frame not in stud.frames:
                continue
            for t in self.times(offset + self.rng.randrange(round(period)), period):
                if frame == "ibeacon":
                    data = FLAGS_LE_ONLY + beacon
                elif frame == "eddystone_uid":
                    data = FLAGS_LE_ONLY + UUID_LIST_AD + uid
                else:
                    boot = max([self.first_boot, *(r for r in self.script.reboots if r <= t)])
                    up = t - boot
                    temperature = None
                    if stud.stud_id != NO_TEMPERATURE_STUD:
                        temperature = 12.0 + 5.0 * t / self.duration + temperature_offset
                    tlm = EddystoneTlm(self.battery(t), temperature, int(up * per_second), up)
                    data = FLAGS_LE_ONLY + UUID_LIST_AD + encode_eddystone_tlm(tlm)
                occupied = self.occupancy.field_at(t) > 0
                rssi = self.radio.hear(-BIKE_ATTENUATION_DB if occupied else 0.0)
                if rssi is not None:
                    self.tally.add(t, self.address, rssi, data)


_OTHER_FRAMES = (
    ("ibeacon", 5.0, 0.35),
    ("eddystone_tlm", 10.0, 0.6),
    ("eddystone_uid", 10.0, 0.85),
)


_Make = Callable[[random.Random], tuple[bytes, SkipReason]]


def _phone(rng: random.Random) -> tuple[bytes, SkipReason]:
    nearby = bytes((0x4C, 0x00, 0x10, 0x05, rng.choice((0x01, 0x03, 0x1B)), rng.randrange(256)))
    data = bytes((0x02, AD_FLAGS, 0x1A)) + ad_structure(
        AD_MANUFACTURER_DATA, nearby + rng.randbytes(3)
    )
    return data + ad_structure(AD_TX_POWER, b"\x0c"), SkipReason.UNKNOWN_FRAME


def _laptop(rng: random.Random) -> tuple[bytes, SkipReason]:
    payload = b"\x06\x00\x03\x00\x80" + rng.randbytes(4)
    return FLAGS_LE_ONLY + ad_structure(AD_MANUFACTURER_DATA, payload), SkipReason.UNKNOWN_COMPANY


_URL_FRAME = ad_structure(AD_SERVICE_DATA_16, b"\xaa\xfe\x10\xee\x03tianshan-cafe\x07")


def _shop(rng: random.Random) -> tuple[bytes, SkipReason]:
    return FLAGS_LE_ONLY + UUID_LIST_AD + _URL_FRAME, SkipReason.UNKNOWN_FRAME


def _band(rng: random.Random) -> tuple[bytes, SkipReason]:
    heart_rate = ad_structure(AD_SERVICE_DATA_16, b"\x0d\x18" + bytes((rng.randint(60, 140),)))
    data = FLAGS_LE_ONLY + heart_rate + ad_structure(AD_COMPLETE_LOCAL_NAME, b"Band 7")
    return data, SkipReason.UNKNOWN_SERVICE


def _mesh(rng: random.Random) -> tuple[bytes, SkipReason]:
    return ad_structure(0x2A, rng.randbytes(12)), SkipReason.AD_UNKNOWN_TYPE


def _prototype_v2(rng: random.Random) -> tuple[bytes, SkipReason]:
    """Version 2 firmware on a lab stud: a longer frame we do not know yet."""
    body = bytes((2,)) + (0xFF02).to_bytes(4, "little") + b"\x00\x00\x00\x00\x00\xb8\x0b"
    body += rng.randbytes(2) + b"\x00\x00"
    data = ad_structure(AD_MANUFACTURER_DATA, b"\xff\xff" + body + bytes((crc8(body),)))
    return FLAGS_LE_ONLY + data, SkipReason.UNKNOWN_FRAME


def _prototype_reserved(rng: random.Random) -> tuple[bytes, SkipReason]:
    """Version 1 with a reserved flag bit set, and a CRC that matches it."""
    body = bytes((1,)) + (0xFF03).to_bytes(4, "little") + b"\x00\x00\x10\x00\x00\xb8\x0b"
    body += rng.randbytes(2)
    data = ad_structure(AD_MANUFACTURER_DATA, b"\xff\xff" + body + bytes((crc8(body),)))
    return FLAGS_LE_ONLY + data, SkipReason.MALFORMED


def _random_address(rng: random.Random, top: int) -> str:
    first = top | rng.randrange(0x40)
    return ":".join(f"{b:02X}" for b in (first, *(rng.randrange(256) for _ in range(5))))


def _foreign(seed: int, duration: float, tally: _Tally) -> list[ForeignDevice]:
    """Traffic that is not ours: the decoder must skip and count every bit of it."""
    rng = random.Random(f"{seed}:foreign")
    plan: list[tuple[str, str, float, float, float, _Make]] = []  # kind, address, from, to…
    for _ in range(12):  # iPhones carried past (resolvable private addresses: top bits 01)
        start = rng.uniform(0, duration * 0.95)
        end = start + rng.uniform(20, 120)
        plan.append(("phone (Apple Nearby)", _random_address(rng, 0x40), start, end, 1.0, _phone))
    d = duration
    band_from = rng.uniform(0.2, 0.6) * d
    plan += [
        ("laptop (Microsoft)", _random_address(rng, 0xC0), 0.1 * d, 0.3 * d, 2.0, _laptop),
        ("shop beacon (Eddystone-URL)", "C4:2E:0A:11:70:5B", 0.0, d, 2.0, _shop),
        ("fitness band", _random_address(rng, 0xC0), band_from, band_from + 180, 1.0, _band),
        ("mesh node", _random_address(rng, 0xC0), 0.5 * d, 0.6 * d, 3.0, _mesh),
        ("prototype stud (version 2)", stud_address(0xFF02), 0.2 * d, 0.3 * d, 1.0, _prototype_v2),
        (
            "prototype stud (reserved flag)",
            stud_address(0xFF03),
            0.7 * d,
            0.72 * d,
            1.0,
            _prototype_reserved,
        ),
    ]
    for _, address, start, end, period, make in plan:
        radio = _Radio(rng, rng.uniform(-30, 30), rng.uniform(-20, 20))
        t = start + rng.uniform(0, period)
        while t < min(end, duration):
            data, skip = make(rng)
            rssi = radio.hear()
            if rssi is not None:
                tally.add(t, address, rssi, data, skip)
            t += period * rng.uniform(0.9, 1.1)
    return [ForeignDevice(address, kind) for kind, address, *_ in plan]


CORRUPT_LINES = (
    ("17.2,D5:7B:00:00:03:E9,-7", LineError.FIELDS),  # the recorder lost power mid-line
    ("nan,D5:7B:00:00:03:E9,-70,0201", LineError.TIME),
    ("18.0,D5:7B:00:00:03,-70,0201", LineError.ADDRESS),
    ("18.5,D5:7B:00:00:03:E9,-7x,0201", LineError.RSSI),
    ("19.0,D5:7B:00:00:03:E9,-70,02010g", LineError.DATA),
)


def _per_minute(visits: list[Visit], duration: float) -> tuple[int, ...]:
    """Bikes parked at the start of each minute (t = 0, 60, … < duration)."""
    return tuple(
        sum(1 for v in visits if v.start <= 60 * m < v.end) for m in range(math.ceil(duration / 60))
    )


def _overfill(bay: _AreaSpec, visits: list[Visit]) -> list[Overfill]:
    # Departures sort before arrivals at the same instant: a swap is not an overfill.
    changes = sorted([(v.start, 1) for v in visits] + [(v.end, -1) for v in visits])
    out: list[Overfill] = []
    count = peak = 0
    start: float | None = None
    for t, delta in changes:
        count += delta
        if count > bay.capacity and start is None:
            start, peak = t, count
        elif start is not None:
            peak = max(peak, count)
            if count <= bay.capacity:
                out.append(Overfill(bay.area_id, start, t, peak))
                start = None
    return out


@dataclass(slots=True)
class _Bikes:
    """Bike visits and, per stud, what is over it when (start, end, field strength)."""

    visits: list[Visit] = field(default_factory=list)
    spans: dict[int, list[tuple[float, float, float]]] = field(default_factory=dict)

    def over(self, stud_id: int, start: float, end: float, strength: float) -> None:
        self.spans.setdefault(stud_id, []).append((start, end, strength))

    def occupied(self, stud_id: int) -> tuple[Interval, ...]:
        return _merge([Interval(a, b) for a, b, _ in self.spans.get(stud_id, [])])

    def parked_in(self, spec: _AreaSpec) -> list[Visit]:
        return [
            v
            for v in self.visits
            if v.kind == "parked" and v.area == spec.area and v.area_id == spec.area_id
        ]


def _bikes(rng: random.Random, duration: float, by_area: dict[int, list[_Stud]]) -> _Bikes:
    spaces = {b.area_id: _spaces(b, by_area[b.area_id]) for b in _BAYS}
    out = _Bikes()
    parked = _BikeSim(rng, duration, by_area, spaces).run()
    for bike in parked:
        spec = bike.spec
        out.visits.append(
            Visit(bike.bike_id, "parked", spec.area, spec.area_id, bike.start, bike.end, bike.studs)
        )
        for stud_id in bike.studs:  # standing between studs: each sees its share
            out.over(stud_id, bike.start, bike.end, bike.strength_ut / len(bike.studs))
    for visit, per_stud in _roll_pasts(rng, duration, by_area, len(parked) + 1):
        out.visits.append(visit)
        strength = rng.uniform(8.0, 20.0)
        for stud_id, interval in per_stud.items():
            out.over(stud_id, interval.start, interval.end, strength)
    out.visits.sort(key=lambda v: (v.start, v.bike_id))
    return out


def _area_truths(
    bikes: _Bikes, by_area: dict[int, list[_Stud]], duration: float
) -> tuple[tuple[BayTruth, ...], tuple[ZoneTruth, ...], tuple[Overfill, ...]]:
    bays = tuple(
        BayTruth(
            spec.area_id,
            spec.name,
            spec.capacity,
            tuple(s.stud_id for s in by_area[spec.area_id]),
            tuple(Space(k, studs) for k, studs in enumerate(_spaces(spec, by_area[spec.area_id]))),
            _place(spec.x, spec.y),
            BAY_LENGTH_M,
            spec.heading_deg,
            _per_minute(bikes.parked_in(spec), duration),
        )
        for spec in _BAYS
    )
    zones = tuple(
        ZoneTruth(
            spec.area_id,
            spec.name,
            tuple(s.stud_id for s in by_area[_area_key(spec)]),
            _place(spec.x, spec.y),
            _per_minute(bikes.parked_in(spec), duration),
        )
        for spec in _ZONES
    )
    overfill = tuple(o for spec in _BAYS for o in _overfill(spec, bikes.parked_in(spec)))
    return bays, zones, overfill


def generate(seed: int = 1, duration_s: float = 3600.0) -> Capture:
    """Simulate ``duration_s`` seconds at the site; deterministic in ``seed``."""
    if duration_s < 120:
        raise ValueError("the scripted incidents need at least two minutes")
    rng = random.Random(seed)
    studs, by_area = _layout()
    bikes = _bikes(rng, duration_s, by_area)
    tally = _Tally()
    stud_truths = []
    for stud in studs:
        occupancy = _Occupancy(bikes.spans.get(stud.stud_id, []))
        emitter = _StudEmitter(seed, stud, duration_s, occupancy, tally)
        emitter.status_frames()
        emitter.other_frames()
        script = emitter.script
        stud_truths.append(
            StudTruth(
                stud.stud_id,
                stud_address(stud.stud_id),
                stud.spec.area,
                stud.spec.area_id,
                _place(stud.x, stud.y),
                stud.frames,
                script.silent,
                bikes.occupied(stud.stud_id),
                script.low_battery,
                script.tampered,
                script.reboots,
            )
        )
    foreign = _foreign(seed, duration_s, tally)
    records = sorted(tally.records, key=lambda r: (r.t, r.address))
    bays, zones, overfill = _area_truths(bikes, by_area, duration_s)
    truth = GroundTruth(
        seed=seed,
        duration_s=duration_s,
        start_local=START_LOCAL,
        box=_place(0.0, 0.0),
        advertising_interval_s=INTERVAL_S,
        low_battery_mv=LOW_BATTERY_MV,
        bays=bays,
        zones=zones,
        studs=tuple(stud_truths),
        visits=tuple(bikes.visits),
        overfill=overfill,
        foreign_devices=tuple(foreign),
        records=len(records),
        expected_skips={r.value: tally.skips[r.value] for r in SkipReason},
        corrupt_lines={r.value: sum(1 for _, c in CORRUPT_LINES if c is r) for r in LineError},
    )
    return Capture(records, [line for line, _ in CORRUPT_LINES], truth)


def write(capture: Capture, out: Path) -> tuple[Path, Path]:
    """Write the capture (``adverts.csv.xz``) and ``truth.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    capture_path = out / CAPTURE_NAME
    truth_path = out / TRUTH_NAME
    write_capture(capture_path, capture.records, extra_lines=capture.corrupt_lines)
    truth_path.write_text(truth_to_json(capture.truth), encoding="utf-8")
    return capture_path, truth_path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate and write a capture."""
    parser = argparse.ArgumentParser(
        prog="python -m firmware_bridge.ble.capture",
        description="Generate a BLE parking-stud capture and its ground truth.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3600.0, help="simulated seconds")
    args = parser.parse_args(argv)
    capture = generate(args.seed, args.duration)
    capture_path, truth_path = write(capture, args.out)
    truth = capture.truth
    print(f"{capture_path}: {truth.records} records, {truth.expected_skips} skips expected")
    print(f"{truth_path}: {len(truth.visits)} visits, {len(truth.overfill)} overfill episodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
