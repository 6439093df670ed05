"""The capture generator: deterministic from its seed, its scripted incidents all present,
and its ground truth consistent with its frames, for a short generated capture and for
the committed one (firmware_bridge/ble/capture/)."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

from firmware_bridge.ble import capture
from firmware_bridge.ble.advert import decode_advertisement
from firmware_bridge.ble.readings import AreaKind, EddystoneTlm, EddystoneUid, IBeacon, StudStatus
from firmware_bridge.ble.replay import ReplaySource
from firmware_bridge.ble.skips import SkipCounts
from firmware_bridge.ble.source import AdvertisementRecord
from firmware_bridge.ble.truth import (
    GroundTruth,
    Interval,
    StudTruth,
    covers,
    load_truth,
    truth_from_json,
    truth_to_json,
)

COMMITTED = Path(capture.__file__).with_name("capture")


class Spans:
    """Sorted, disjoint intervals with a quick membership test."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = sorted(intervals, key=lambda i: i.start)
        self.starts = [i.start for i in self.intervals]

    def __contains__(self, t: float) -> bool:
        k = bisect_right(self.starts, t) - 1
        return k >= 0 and t in self.intervals[k]


class StudCheck:
    """What one stud may send at a given time, by the truth."""

    def __init__(self, stud: StudTruth) -> None:
        self.stud = stud
        self.silent = Spans(stud.silent)
        self.occupied = Spans(stud.occupied)
        self.low = Spans(stud.low_battery)
        self.tampered = Spans(stud.tampered)
        self.seqs: list[tuple[float, int]] = []


def check_consistent(records: Iterable[AdvertisementRecord], truth: GroundTruth) -> SkipCounts:
    """Assert every record agrees with the truth; returns the skips counted."""
    checks = {s.address: StudCheck(s) for s in truth.studs}
    foreign = {f.address for f in truth.foreign_devices}
    counts = SkipCounts()
    heard: dict[str, int] = defaultdict(int)
    n = 0
    for record in records:
        n += 1
        assert 0 <= record.t < truth.duration_s
        advert = decode_advertisement(record.data, counts)
        check = checks.get(record.address)
        if check is None:
            assert record.address in foreign, record
            assert advert.readings == ()  # nothing of a stranger decodes
            continue
        stud, t = check.stud, record.t
        assert t not in check.silent, f"stud {stud.stud_id} sent at {t} while silent"
        heard[record.address] += 1
        for reading in advert.readings:
            if isinstance(reading, StudStatus):
                assert reading.stud_id == stud.stud_id
                kind = AreaKind.BAY if stud.area == "bay" else AreaKind.NO_PARKING
                assert (reading.area_kind, reading.area_id) == (kind, stud.area_id)
                assert reading.tamper == (t in check.tampered), (stud.stud_id, t)
                if not reading.tamper:
                    assert reading.occupied == (t in check.occupied), (stud.stud_id, t)
                is_low = reading.battery_mv < truth.low_battery_mv
                assert is_low == (t in check.low), (stud.stud_id, t, reading.battery_mv)
                check.seqs.append((t, reading.seq))
            elif isinstance(reading, IBeacon):
                assert "ibeacon" in stud.frames
                assert (reading.major, reading.minor) == (stud.area_id, stud.stud_id)
            elif isinstance(reading, EddystoneTlm):
                assert "eddystone_tlm" in stud.frames
                is_low = (reading.battery_mv or 0) < truth.low_battery_mv
                assert is_low == (t in check.low), (stud.stud_id, t, reading.battery_mv)
            else:
                assert isinstance(reading, EddystoneUid)
                assert "eddystone_uid" in stud.frames
                assert int.from_bytes(reading.instance, "big") == stud.stud_id
    assert n == truth.records
    assert counts.as_dict() == truth.expected_skips
    # Every stud is heard (the dead one before it died); sequence numbers step by one
    # frame sent, wrap at 16 bits, and restart at 0 only at a reboot.
    for check in checks.values():
        assert heard[check.stud.address] > 0
        reboots = list(check.stud.reboots)
        for (t0, s0), (t1, s1) in zip(check.seqs, check.seqs[1:], strict=False):
            if reboots and t0 < reboots[0] <= t1:
                assert s1 <= (t1 - reboots.pop(0)) / truth.advertising_interval_s + 1
            else:
                step = (s1 - s0) % 65536
                assert 1 <= step <= (t1 - t0) / truth.advertising_interval_s + 1
    return counts


def check_truth(truth: GroundTruth) -> None:
    """The truth's own bookkeeping, and that every scripted incident is in it."""
    parked = [v for v in truth.visits if v.kind == "parked"]
    rolls = [v for v in truth.visits if v.kind == "roll_past"]
    studs = {s.stud_id: s for s in truth.studs}
    for bay in truth.bays:
        mine = [v for v in parked if v.area == "bay" and v.area_id == bay.bay_id]
        assert bay.parked_per_minute == tuple(
            sum(1 for v in mine if v.start <= 60 * m < v.end)
            for m in range(len(bay.parked_per_minute))
        )
        assert len(bay.stud_ids) == 10
        assert all(studs[s].area_id == bay.bay_id for s in bay.stud_ids)
    assert len(truth.studs) >= 66
    assert len(truth.bays) == 6
    for visit in truth.visits:
        assert 1 <= len(visit.stud_ids) <= (2 if visit.kind == "parked" else 3)
        assert all(studs[s].area_id == visit.area_id for s in visit.stud_ids)
        assert all(studs[s].area == visit.area for s in visit.stud_ids)
        for stud_id in visit.stud_ids:  # a bike over a stud shows in its occupancy
            occupied = studs[stud_id].occupied
            if visit.kind == "parked":
                assert visit.start in Spans(occupied)
            else:  # rolling: over each stud for a moment within the visit
                assert any(i.start < visit.end and visit.start < i.end for i in occupied)
    assert len(rolls) >= 20
    assert all(v.end - v.start < 10 for v in rolls)  # seconds, not parked
    # At least one overfill that then empties, a bike in a no-parking zone, a stud that
    # goes silent and comes back, one that dies, one low, one tampered.
    bays = {b.bay_id: b for b in truth.bays}
    assert any(
        o.end < truth.duration_s and o.peak > bays[o.bay_id].capacity for o in truth.overfill
    )
    for episode in truth.overfill:
        mine = [v for v in parked if v.area == "bay" and v.area_id == episode.bay_id]
        mid = (episode.start + episode.end) / 2
        assert sum(1 for v in mine if v.start <= mid < v.end) > bays[episode.bay_id].capacity
    assert any(v.area == "no_parking" for v in parked)
    assert any(z.parked_per_minute.count(0) < len(z.parked_per_minute) for z in truth.zones)
    assert any(i.end < truth.duration_s for s in truth.studs for i in s.silent)
    assert any(i.end == truth.duration_s for s in truth.studs for i in s.silent)
    assert any(s.reboots for s in truth.studs)
    assert any(s.low_battery and not s.silent for s in truth.studs)
    assert any(s.tampered for s in truth.studs)


@pytest.fixture(scope="module")
def short() -> capture.Capture:
    return capture.generate(seed=5, duration_s=200.0)


@pytest.fixture(scope="module")
def written(short: capture.Capture, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return capture.write(short, tmp_path_factory.mktemp("capture"))


def test_short_capture_is_consistent_with_its_truth(short: capture.Capture) -> None:
    check_truth(short.truth)
    counts = check_consistent(short.records, short.truth)
    assert counts.total > 0


def test_same_seed_same_bytes_other_seed_other_capture(
    short: capture.Capture, written: tuple[Path, Path], tmp_path: Path
) -> None:
    again = capture.generate(seed=5, duration_s=200.0)
    assert again.records == short.records
    assert again.truth == short.truth
    for a, b in zip(written, capture.write(again, tmp_path), strict=True):
        assert a.read_bytes() == b.read_bytes()
    other = capture.generate(seed=6, duration_s=200.0)
    assert other.records != short.records


def test_written_capture_replays_to_the_same_records(
    short: capture.Capture, written: tuple[Path, Path]
) -> None:
    capture_path, truth_path = written
    assert load_truth(truth_path) == short.truth
    source = ReplaySource(capture_path, speed=None)
    assert list(source.records()) == short.records
    counters = source.counters()
    assert {k: v for k, v in counters.items() if k.startswith("corrupt_")} == (
        short.truth.corrupt_lines
    )


def test_truth_helpers(short: capture.Capture) -> None:
    truth = short.truth
    broken = truth.stud(capture.BROKEN_STUD)
    assert len(broken.silent) == 1
    gap = broken.silent[0]
    assert truth.alive(capture.BROKEN_STUD) == (
        Interval(0.0, gap.start),
        Interval(gap.end, truth.duration_s),
    )
    dead = truth.stud(capture.DYING_STUD).silent[0]
    assert truth.alive(capture.DYING_STUD) == (Interval(0.0, dead.start),)
    assert truth.alive(1001) == (Interval(0.0, truth.duration_s),)
    assert covers(broken.silent, gap.start)
    assert not covers(broken.silent, gap.end)
    assert not covers(broken.silent, 0.0)
    with pytest.raises(KeyError):
        truth.stud(1)


def test_truth_json_round_trip(short: capture.Capture) -> None:
    assert truth_from_json(truth_to_json(short.truth)) == short.truth
    with pytest.raises(ValueError, match="format"):
        truth_from_json('{"format": 2}')


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert capture.main(["--out", str(tmp_path), "--seed", "2", "--duration", "120"]) == 0
    assert (tmp_path / capture.CAPTURE_NAME).is_file()
    assert load_truth(tmp_path / capture.TRUTH_NAME).seed == 2
    assert "records" in capsys.readouterr().out


def test_committed_capture_is_consistent_with_its_truth() -> None:
    truth = load_truth(COMMITTED / capture.TRUTH_NAME)
    assert (truth.seed, truth.duration_s) == (1, 3600.0)
    assert len(truth.studs) >= 60 + 6
    check_truth(truth)
    source = ReplaySource(COMMITTED / capture.CAPTURE_NAME, speed=None)
    check_consistent(source.records(), truth)
    counters = source.counters()
    assert {k: v for k, v in counters.items() if k.startswith("corrupt_")} == truth.corrupt_lines
    assert counters["unreadable"] == 0
    assert (COMMITTED / capture.CAPTURE_NAME).stat().st_size < 4_000_000
