"""The capture format and the replay source: pacing by a speed factor (on a fake clock),
corrupt lines counted and skipped, compressed and cut-off files, closing."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import pytest

from firmware_bridge.ble.capture_file import (
    CaptureLineError,
    LineError,
    format_line,
    parse_line,
    write_capture,
)
from firmware_bridge.ble.replay import ReplaySource
from firmware_bridge.ble.source import AdvertisementRecord, AdvertisementSource

RECORDS = [
    AdvertisementRecord(10.0, "D5:7B:00:00:03:E9", -71, bytes.fromhex("020104")),
    AdvertisementRecord(10.5, "D5:7B:00:00:03:EA", -80, b""),
    AdvertisementRecord(12.0, "D5:7B:00:00:03:E9", -69, bytes.fromhex("0201040309")),
    AdvertisementRecord(12.0, "C4:2E:0A:11:70:5B", -90, bytes.fromhex("0303aafe")),
    AdvertisementRecord(11.0, "D5:7B:00:00:03:E9", -70, b"\xff"),  # out of order
]


class FakeTime:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_line_format_round_trip() -> None:
    for record in RECORDS:
        assert parse_line(format_line(record)) == record
    assert format_line(RECORDS[0]) == "10.000,D5:7B:00:00:03:E9,-71,020104\n"
    # Lower-case addresses are read, and reported upper-case.
    assert parse_line("1,d5:7b:00:00:03:e9,-70,").address == "D5:7B:00:00:03:E9"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("10.0,D5:7B:00:00:03:E9,-71", LineError.FIELDS),
        ("10.0,D5:7B:00:00:03:E9,-71,0201,04", LineError.FIELDS),
        ("ten,D5:7B:00:00:03:E9,-71,0201", LineError.TIME),
        ("inf,D5:7B:00:00:03:E9,-71,0201", LineError.TIME),
        ("nan,D5:7B:00:00:03:E9,-71,0201", LineError.TIME),
        ("10.0,D5:7B:00:00:03,-71,0201", LineError.ADDRESS),
        ("10.0,D5-7B-00-00-03-E9,-71,0201", LineError.ADDRESS),
        ("10.0,G5:7B:00:00:03:E9,-71,0201", LineError.ADDRESS),
        ("10.0,D5:7B:00:00:03:E9,-7x,0201", LineError.RSSI),
        ("10.0,D5:7B:00:00:03:E9,-200,0201", LineError.RSSI),
        ("10.0,D5:7B:00:00:03:E9,-71,020", LineError.DATA),
        ("10.0,D5:7B:00:00:03:E9,-71,02zz", LineError.DATA),
    ],
)
def test_corrupt_lines_are_refused_by_field(line: str, reason: LineError) -> None:
    with pytest.raises(CaptureLineError) as caught:
        parse_line(line)
    assert caught.value.reason is reason


@pytest.mark.parametrize("name", ["c.csv", "c.csv.gz", "c.csv.xz"])
def test_replay_as_fast_as_possible_reads_every_format(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_capture(path, RECORDS) == len(RECORDS)
    fake = FakeTime()
    source: AdvertisementSource = ReplaySource(path, speed=None, clock=fake.clock, sleep=fake.sleep)
    assert list(source.records()) == RECORDS
    assert fake.sleeps == []
    counters = source.counters()
    assert counters["records"] == 5
    assert counters["out_of_order"] == 1
    assert counters["lines"] == 7  # two header comments


@pytest.mark.parametrize(
    ("speed", "sleeps"),
    [(1.0, [0.5, 1.5]), (2.0, [0.25, 0.75]), (10.0, [0.05, 0.15])],
)
def test_replay_paces_by_the_speed_factor(
    tmp_path: Path, speed: float, sleeps: list[float]
) -> None:
    path = tmp_path / "c.csv"
    write_capture(path, RECORDS)
    fake = FakeTime()
    source = ReplaySource(path, speed=speed, clock=fake.clock, sleep=fake.sleep)
    assert [r.t for r in source.records()] == [10.0, 10.5, 12.0, 12.0, 11.0]
    # Waits up to each record's due time; nothing for simultaneous or late records.
    assert fake.sleeps == pytest.approx(sleeps)
    assert fake.now == pytest.approx(1000.0 + 2.0 / speed)


def test_replay_does_not_accumulate_lateness(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    write_capture(path, RECORDS[:3])
    fake = FakeTime()

    def oversleep(seconds: float) -> None:
        fake.sleep(seconds + 0.1)  # an OS that wakes us late each time

    source = ReplaySource(path, speed=1.0, clock=fake.clock, sleep=oversleep)
    list(source.records())
    # Due at +0.5 and +2.0 from the start: the second wait makes up for the first's lateness.
    assert fake.sleeps == pytest.approx([0.6, 1.5])


def test_the_horizon_is_the_record_waited_for_or_in_the_readers_hands(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    write_capture(path, RECORDS)
    fake = FakeTime()
    while_waiting: list[float | None] = []
    source: ReplaySource

    def sleep(seconds: float) -> None:
        while_waiting.append(source.horizon())
        fake.sleep(seconds)

    source = ReplaySource(path, speed=1.0, clock=fake.clock, sleep=sleep)
    assert source.horizon() is None
    held = [(r.t, source.horizon()) for r in source.records()]
    # Waiting for a record, time may run up to it; while the reader holds one, up to it.
    assert while_waiting == [10.5, 12.0]
    assert held == [(r.t, r.t) for r in RECORDS]


def test_corrupt_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"# tianshan-ble-capture 1\n"
        b"\n"
        b"1.0,D5:7B:00:00:03:E9,-70,0201\n"
        b"1.1,D5:7B:00:00:03:E9,-70\n"
        b"1.2,D5:7B:00:00:03:E9,-70,02\xff1\n"  # not UTF-8: replaced, then bad hex
        b"nan,D5:7B:00:00:03:E9,-70,0201\n"
        b"1.4,D5:7B:00:00:03:E9,-70,0201\r\n"  # CRLF is fine
        b"1.5,D5:7B:00:00:03,-70,0201\n"
        b"1.6,D5:7B:00:00:03:E9,loud,0201\n"
        b"1.7,D5:7B:00:00:03:E9,-70,0201"  # no final newline is fine
    )
    source = ReplaySource(path, speed=None)
    assert [r.t for r in source.records()] == [1.0, 1.4, 1.7]
    counters = source.counters()
    assert counters["records"] == 3
    assert {k: v for k, v in counters.items() if k.startswith("corrupt_")} == {
        "corrupt_fields": 1,
        "corrupt_time": 1,
        "corrupt_address": 1,
        "corrupt_rssi": 1,
        "corrupt_data": 1,
    }


def test_cut_off_gzip_ends_the_replay_with_a_count(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    many = [AdvertisementRecord(i / 10, "D5:7B:00:00:03:E9", -70, bytes(20)) for i in range(5000)]
    write_capture(path, many)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    source = ReplaySource(path, speed=None)
    got = list(source.records())
    assert 0 < len(got) < len(many)
    assert got == many[: len(got)]
    assert source.counters()["unreadable"] == 1


def test_not_gzip_at_all(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    path.write_bytes(b"plain text, not gzip\n")
    source = ReplaySource(path, speed=None)
    assert list(source.records()) == []
    assert source.counters()["unreadable"] == 1


def test_gzip_output_is_reproducible(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_capture(tmp_path / "a" / "c.csv.gz", RECORDS)
    write_capture(tmp_path / "b" / "c.csv.gz", RECORDS)
    assert (tmp_path / "a" / "c.csv.gz").read_bytes() == (tmp_path / "b" / "c.csv.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a" / "c.csv.gz").read_bytes()).startswith(b"# tianshan")


def test_close_interrupts_a_long_wait(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    write_capture(
        path,
        [
            AdvertisementRecord(0.0, "D5:7B:00:00:03:E9", -70, b""),
            AdvertisementRecord(100_000.0, "D5:7B:00:00:03:E9", -70, b""),
        ],
    )
    source = ReplaySource(path, speed=1.0)  # the real clock and the interruptible wait
    records = source.records()
    assert next(records).t == 0.0
    closer = threading.Timer(0.05, source.close)
    closer.start()
    assert list(records) == []  # the second record's day-long wait was cut short
    closer.join()
    assert source.counters()["records"] == 1


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ReplaySource(tmp_path / "missing.csv")
    path = tmp_path / "c.csv"
    write_capture(path, RECORDS)
    with pytest.raises(ValueError, match="speed"):
        ReplaySource(path, speed=0)
