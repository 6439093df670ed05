"""Parking logic on the box: stud health, debounced bikes, bays over capacity and
no-parking zones, fed frames built with the real stud-frame encoder; then the whole
committed capture against its ground truth."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from edge.config import ParkingConfig
from edge.parking.clock import SourceClock
from edge.parking.logic import ParkingLogic
from firmware_bridge.ble import AdvertisementRecord, AreaKind, ReplaySource, StudStatus
from firmware_bridge.ble.ad import FLAGS_LE_ONLY
from firmware_bridge.ble.capture import stud_address
from firmware_bridge.ble.stud_frame import encode_stud_status
from firmware_bridge.ble.truth import GroundTruth, load_truth
from wire import parking as p

CAPTURE = Path(__file__).resolve().parents[2] / "firmware_bridge" / "ble" / "capture"


def config(**extra: object) -> ParkingConfig:
    base: dict[str, object] = {
        "source": {"kind": "replay", "path": "unused.csv"},
        "bays": [{"id": 1, "name": "Test bay", "capacity": 2, "studs": [11, 12, 13]}],
        "zones": [{"id": 7, "name": "Fire lane", "studs": [71]}],
        "studs": {"away_timeout_s": 30, "park_s": 15, "leave_s": 10},
        "over_capacity_hold_s": 5,
    }
    return ParkingConfig.model_validate(base | extra)


class Site:
    """Studs sending a status frame every second, with what is over them."""

    def __init__(self, logic: ParkingLogic) -> None:
        self.logic = logic
        self.field: dict[int, float] = {}  # stud → µT over it (0: nothing)
        self.silent: set[int] = set()
        self.tamper: set[int] = set()
        self.battery: dict[int, int] = {}
        self.seq = 0
        self.events: list[tuple[str, str, float]] = []

    def frame(self, stud: int, t: float) -> AdvertisementRecord:
        kind, area = (AreaKind.NO_PARKING, 7) if stud >= 70 else (AreaKind.BAY, 1)
        field = self.field.get(stud, 0.0)
        self.seq += 1
        status = StudStatus(
            stud,
            kind,
            area,
            field > 0,
            stud in self.tamper,
            field,
            self.battery.get(stud, 3000),
            self.seq & 0xFFFF,
        )
        return AdvertisementRecord(
            t, stud_address(stud), -70, FLAGS_LE_ONLY + encode_stud_status(status)
        )

    def run(self, start: float, end: float, studs: Iterable[int] = (11, 12, 13, 71)) -> None:
        t = start
        studs = list(studs)
        while t < end:
            for k, stud in enumerate(studs):
                if stud not in self.silent:
                    self.logic.feed(self.frame(stud, t + 0.01 * k))
            self.logic.tick(t + 0.5)
            events, _ = self.logic.take()
            self.events += [
                (e.type, e.source, e.data.at_us / 1e6)  # type: ignore[attr-defined]
                for e in events
                if e.type != p.SNAPSHOT
            ]
            t += 1.0

    def types(self) -> list[str]:
        return [kind for kind, _, _ in self.events]


@pytest.fixture
def site() -> Site:
    return Site(ParkingLogic(config()))


def test_a_bike_rolling_past_does_not_count_a_parked_one_does(site: Site) -> None:
    site.run(0, 10)
    site.field[11] = 12.0  # rolled over for 3 s
    site.run(10, 13)
    site.field[11] = 0.0
    site.run(13, 40)
    assert site.logic.bays[1].bikes == 0
    site.field[12] = 11.5  # parked
    site.run(40, 54)
    assert site.logic.bays[1].bikes == 0  # not yet: 15 s to count as parked
    site.run(54, 60)
    assert site.logic.bays[1].bikes == 1
    site.field[12] = 0.0  # gone
    site.run(60, 80)
    assert site.logic.bays[1].bikes == 0
    assert site.events == []


def test_bikes_between_studs_and_sharing_a_stud_are_counted_from_the_field(site: Site) -> None:
    site.field[11], site.field[12] = 6.1, 5.8  # one bike between two studs
    site.field[13] = 24.3  # two bikes squeezed over one stud
    site.run(0, 30)
    assert site.logic.bays[1].bikes == 3


def test_a_silent_stud_is_offline_within_its_timeout_plus_one_tick_and_comes_back(
    site: Site,
) -> None:
    site.run(0, 10)
    site.silent.add(12)
    site.run(10, 60)
    offline = [e for e in site.events if e[0] == p.STUD_OFFLINE]
    assert [(kind, source) for kind, source, _ in offline] == [(p.STUD_OFFLINE, "stud-12")]
    last_heard = 9.01
    assert last_heard + 30 <= offline[0][2] <= last_heard + 30 + 1.0
    site.silent.clear()
    site.run(60, 62)
    assert site.types() == [p.STUD_OFFLINE, p.STUD_BACK]


def test_a_stud_configured_but_never_heard_goes_offline(site: Site) -> None:
    site.run(0, 40, studs=(11, 13, 71))
    assert [(k, s) for k, s, _ in site.events] == [(p.STUD_OFFLINE, "stud-12")]


def test_overfill_raises_once_and_clears_when_the_bay_empties(site: Site) -> None:
    site.field[11] = 12.0
    site.field[12] = 12.0
    site.run(0, 30)
    site.field[13] = 12.0  # a third bike in a bay of two
    site.run(30, 60)
    site.field[13] = 24.0  # a fourth, and a bike rolling past meanwhile
    site.field[11] = 24.0
    site.run(60, 62)
    site.field[11] = 12.0
    site.run(62, 100)
    assert site.types() == [p.OVER_CAPACITY]
    for stud in (11, 12, 13):
        site.field[stud] = 0.0
    site.run(100, 130)
    assert site.types() == [p.OVER_CAPACITY, p.OVER_CAPACITY_CLEAR]
    raised, cleared = site.events
    assert 30 + 15 + 5 <= raised[2] <= 30 + 15 + 5 + 1
    assert 100 + 10 + 5 <= cleared[2] <= 100 + 10 + 5 + 1


def test_a_bike_in_a_no_parking_zone_but_not_one_riding_through(site: Site) -> None:
    site.field[71] = 14.0
    site.run(0, 3)
    site.field[71] = 0.0
    site.run(3, 30)
    assert site.events == []
    site.field[71] = 14.0
    site.run(30, 60)
    site.field[71] = 0.0
    site.run(60, 80)
    assert [(k, s) for k, s, _ in site.events] == [
        (p.NO_PARKING, "zone-7"),
        (p.NO_PARKING_CLEAR, "zone-7"),
    ]


def test_low_battery_with_hysteresis_and_tamper_holds_the_bikes(site: Site) -> None:
    site.field[11] = 12.0
    site.run(0, 20)
    site.battery[11] = 2480
    site.run(20, 22)
    site.battery[11] = 2520  # above the threshold, within the hysteresis: still low
    site.run(22, 24)
    site.tamper.add(11)
    site.field[11] = 0.0  # the magnetometer reads nonsense now
    site.run(24, 60)
    assert site.logic.bays[1].bikes == 1
    site.tamper.clear()
    site.battery[11] = 3000
    site.run(60, 62)
    assert site.types() == [p.LOW_BATTERY, p.TAMPER, p.BATTERY_OK, p.TAMPER_CLEAR]
    snapshot = site.logic.snapshot(62.0).data
    assert isinstance(snapshot, p.ParkingSnapshot)
    (bay,) = snapshot.bays
    assert (bay.studs_total, bay.studs_healthy, bay.capacity) == (3, 3, 2)


def test_the_source_clock_runs_at_the_source_pace() -> None:
    now = [100.0]
    clock = SourceClock(speed=60.0, monotonic=lambda: now[0])
    assert clock.now() is None
    clock.advance(10.0)
    now[0] += 0.5
    assert clock.now() == pytest.approx(40.0)
    clock.advance(5.0)  # late record: time does not go back
    assert clock.now() == pytest.approx(40.0)
    fastest = SourceClock(speed=None, monotonic=lambda: now[0])
    fastest.advance(3.0)
    now[0] += 10
    assert fastest.now() == 3.0


def test_the_source_clock_stops_at_the_sources_horizon() -> None:
    now: list[float] = [100.0]
    pending: list[float | None] = [None]
    clock = SourceClock(speed=180.0, monotonic=lambda: now[0], horizon=lambda: pending[0])
    clock.advance(10.0)
    now[0] += 0.5  # the reader held up for half a second: 90 capture seconds
    assert clock.now() == pytest.approx(100.0)  # a source that cannot tell: the wall's pace
    pending[0] = 25.0  # the next record, due at 25 s, not yet taken
    assert clock.now() == pytest.approx(25.0)
    pending[0] = 5.0  # an out-of-order record waiting: time stays where it was
    assert clock.now() == pytest.approx(10.0)
    pending[0] = 500.0  # far ahead: the pace decides
    assert clock.now() == pytest.approx(100.0)


def test_the_final_report_is_dated_at_the_last_record_and_includes_it(site: Site) -> None:
    # Records are judged once per tick (1 s here): after the last one at 5.75 s the logic
    # was last ticked at 4.8 s, and the report at the end must not be dated before it.
    logic = site.logic
    t = 0.0
    while t < 5.65:
        for k, stud in enumerate((11, 12, 13, 71)):
            logic.feed(site.frame(stud, t + 0.001 * k))
        t = round(t + 0.3, 3)
    logic.feed(site.frame(12, 5.75))  # the last record of all
    logic.take()
    assert logic.now is not None
    assert logic.now < 5.75
    logic.finish()
    events, readings = logic.take()
    (snapshot,) = [e for e in events if e.type == p.SNAPSHOT]
    assert snapshot.data.at_us == logic.us(5.75)  # type: ignore[attr-defined]
    (stud,) = [s for s in snapshot.data.studs if s.stud == 12]  # type: ignore[attr-defined]
    assert stud.last_seen_us == logic.us(5.75)
    assert readings
    assert max(r.ts for r in readings) == logic.us(5.75)


# -- the committed capture -------------------------------------------------------------------


def capture_config(truth: GroundTruth) -> ParkingConfig:
    return ParkingConfig.model_validate(
        {
            "source": {"kind": "replay", "path": str(CAPTURE / "adverts.csv.xz"), "speed": 0},
            "bays": [
                {"id": b.bay_id, "name": b.name, "capacity": b.capacity, "studs": list(b.stud_ids)}
                for b in truth.bays
            ],
            "zones": [
                {"id": z.zone_id, "name": z.name, "studs": list(z.stud_ids)} for z in truth.zones
            ],
        }
    )


def test_the_committed_capture_gives_the_events_its_truth_implies() -> None:
    truth = load_truth(CAPTURE / "truth.json")
    cfg = capture_config(truth)
    logic = ParkingLogic(cfg)
    events: list[tuple[str, str, float]] = []
    for record in ReplaySource(CAPTURE / "adverts.csv.xz", speed=None).records():
        logic.feed(record)
        out, _ = logic.take()
        events += [(e.type, e.source, e.data.at_us / 1e6) for e in out if e.type != p.SNAPSHOT]  # type: ignore[attr-defined]

    def of(kind: str, source: str) -> list[float]:
        return [t for k, s, t in events if (k, s) == (kind, source)]

    away, tick = cfg.studs.away_timeout_s, cfg.tick_s
    for stud in truth.studs:
        for quiet in stud.silent:  # offline within its timeout plus one scan period
            (at,) = of(p.STUD_OFFLINE, f"stud-{stud.stud_id}")
            assert quiet.start < at  # not while it still sends
            assert at <= quiet.start + away + tick
            back = of(p.STUD_BACK, f"stud-{stud.stud_id}")
            assert back == (
                [] if quiet.end >= truth.duration_s else [pytest.approx(quiet.end, abs=2)]
            )
        low = of(p.LOW_BATTERY, f"stud-{stud.stud_id}")
        assert len(low) == len(stud.low_battery)
        assert len(of(p.TAMPER, f"stud-{stud.stud_id}")) == len(stud.tampered)
    for bay in truth.bays:  # one alert per overfill, cleared when it empties
        spells = [o for o in truth.overfill if o.bay_id == bay.bay_id]
        raised = of(p.OVER_CAPACITY, f"bay-{bay.bay_id}")
        cleared = of(p.OVER_CAPACITY_CLEAR, f"bay-{bay.bay_id}")
        assert len(raised) == len(cleared) == len(spells)
        for spell, up, down in zip(spells, raised, cleared, strict=True):
            assert spell.start <= up <= spell.start + 60
            assert spell.end <= down <= spell.end + 60
    for zone in truth.zones:
        parked = [
            v
            for v in truth.visits
            if v.area == "no_parking" and v.area_id == zone.zone_id and v.kind == "parked"
        ]
        assert len(of(p.NO_PARKING, f"zone-{zone.zone_id}")) == len(parked)
    offline = {s for k, s, _ in events if k == p.STUD_OFFLINE}
    assert offline == {f"stud-{s.stud_id}" for s in truth.studs if s.silent}
    assert {s for k, s, _ in events if k == p.LOW_BATTERY} == {
        f"stud-{s.stud_id}" for s in truth.studs if s.low_battery
    }
