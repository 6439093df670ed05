"""The bleak source with a fake scanner injected through ``scanner_class``: the watchdog
restarts a scanner gone silent, passive scanning falls back to active, failed starts are
retried, and BlueZ's merged fields are rebuilt into AD structures without repeats."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from firmware_bridge.ble.advert import decode_advertisement
from firmware_bridge.ble.bleak_source import (
    DEFAULT_OR_PATTERNS,
    BleakScannerSource,
    ad_structures_from_bleak,
)
from firmware_bridge.ble.ibeacon import encode_ibeacon
from firmware_bridge.ble.readings import AreaKind, IBeacon, StudStatus
from firmware_bridge.ble.source import AdvertisementRecord, AdvertisementSource
from firmware_bridge.ble.stud_frame import encode_stud_status

BEACON = IBeacon(UUID(int=7), 1, 2, -60)


@dataclass(frozen=True)
class FakeDevice:
    address: str


@dataclass(frozen=True)
class FakeAdvertisementData:
    """The fields of bleak's AdvertisementData the source reads."""

    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes] = field(default_factory=dict)
    tx_power: int | None = None
    rssi: int = -70


def stud_payload(stud_id: int, seq: int) -> bytes:
    """Manufacturer data as bleak gives it: after the company id."""
    return encode_stud_status(StudStatus(stud_id, AreaKind.BAY, 1, False, False, 0.0, 3000, seq))[
        4:
    ]


class FakeScanner:
    """Emits ``limit`` advertisements of stud ``100 + index`` every 10 ms once started,
    then goes silent (still "scanning"), like BlueZ after a long scan."""

    def __init__(self, radio: FakeRadio, index: int, kwargs: dict[str, Any]) -> None:
        self.radio = radio
        self.index = index
        self.kwargs = kwargs
        self.callback: Callable[[FakeDevice, FakeAdvertisementData], None] = kwargs[
            "detection_callback"
        ]
        self.started = False
        self.stopped = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.radio.fail(self):
            raise RuntimeError("org.bluez.Error.NotReady")
        self.started = True
        self._task = asyncio.get_running_loop().create_task(self._emit())

    async def stop(self) -> None:
        self.stopped = True
        if self._task is not None:
            self._task.cancel()

    async def _emit(self) -> None:
        limit = self.radio.limits[min(self.index, len(self.radio.limits) - 1)]
        seq = 0
        while limit is None or seq < limit:
            manufacturer = {0xFFFF: stud_payload(100 + self.index, seq)}
            if self.radio.with_beacon:
                manufacturer[0x004C] = encode_ibeacon(BEACON)[4:]
            self.callback(FakeDevice("d5:7b:00:00:00:01"), FakeAdvertisementData(manufacturer))
            seq += 1
            await asyncio.sleep(0.01)


class FakeRadio:
    """The injected ``scanner_class``: builds fake scanners and remembers them.

    ``limits[i]``: how many advertisements scanner ``i`` emits (None: no end; the last
    limit holds for all later scanners). ``fail(scanner)`` decides a start fails."""

    def __init__(
        self,
        limits: list[int | None],
        *,
        fail: Callable[[FakeScanner], bool] = lambda _: False,
        with_beacon: bool = False,
    ) -> None:
        self.limits = limits
        self.fail = fail
        self.with_beacon = with_beacon
        self.scanners: list[FakeScanner] = []

    def __call__(self, **kwargs: Any) -> FakeScanner:
        scanner = FakeScanner(self, len(self.scanners), kwargs)
        self.scanners.append(scanner)
        return scanner


def studs_until(
    source: AdvertisementSource, done: Callable[[list[tuple[int, int]]], bool]
) -> list[tuple[int, int]]:
    """(stud id, seq) of the records until ``done`` says so."""
    seen: list[tuple[int, int]] = []
    records: Iterator[AdvertisementRecord] = source.records()
    for record in records:
        stud = decode_advertisement(record.data).stud
        if stud is not None:
            seen.append((stud.stud_id, stud.seq))
        if done(seen):
            break
    return seen


def test_watchdog_restarts_a_silent_scanner() -> None:
    radio = FakeRadio([3, None])
    source = BleakScannerSource(scanner_class=radio, silence_timeout=0.3, restart_delay=0.01)
    try:
        seen = studs_until(source, lambda seen: any(s == 101 for s, _ in seen))
    finally:
        source.close()
    # The first scanner's three, then (after the silence) the restarted scanner's.
    assert seen[:3] == [(100, 0), (100, 1), (100, 2)]
    assert seen[3] == (101, 0)
    counters = source.counters()
    assert counters["restarts"] >= 1
    assert counters["passive"] == 1
    assert radio.scanners[0].stopped
    assert radio.scanners[-1].stopped  # close() stops the scanner too
    first = radio.scanners[0].kwargs
    assert first["scanning_mode"] == "passive"
    assert first["bluez"]["or_patterns"] == list(DEFAULT_OR_PATTERNS)


def test_passive_scanning_falls_back_to_active() -> None:
    radio = FakeRadio([None], fail=lambda s: s.kwargs["scanning_mode"] == "passive")
    source = BleakScannerSource(scanner_class=radio, adapter="hci1", restart_delay=0.01)
    try:
        seen = studs_until(source, lambda seen: len(seen) >= 3)
    finally:
        source.close()
    assert seen[0] == (101, 0)  # scanner 0 (passive) never started
    assert [s.kwargs["scanning_mode"] for s in radio.scanners[:2]] == ["passive", "active"]
    assert radio.scanners[1].kwargs["bluez"] == {"adapter": "hci1"}
    counters = source.counters()
    assert counters["fallbacks_to_active"] == 1
    assert counters["start_failures"] == 1
    assert counters["passive"] == 0


def test_failed_starts_are_retried() -> None:
    radio = FakeRadio([None], fail=lambda s: s.index < 2)
    source = BleakScannerSource(scanner_class=radio, scanning_mode="active", restart_delay=0.01)
    try:
        seen = studs_until(source, lambda seen: len(seen) >= 2)
    finally:
        source.close()
    assert seen[:2] == [(102, 0), (102, 1)]
    assert source.counters()["start_failures"] == 2
    assert source.counters()["fallbacks_to_active"] == 0


def test_repeats_of_merged_fields_are_dropped() -> None:
    # BlueZ hands on a device's last data of every company with each advertisement.
    radio = FakeRadio([None], with_beacon=True)
    source = BleakScannerSource(scanner_class=radio)
    kinds: list[tuple[type, ...]] = []
    try:
        for record in source.records():
            assert record.address == "D5:7B:00:00:00:01"
            kinds.append(tuple(type(r) for r in decode_advertisement(record.data).readings))
            if len(kinds) == 3:
                break
    finally:
        source.close()
    assert kinds == [(StudStatus, IBeacon), (StudStatus,), (StudStatus,)]
    assert source.counters()["repeats_dropped"] >= 2


def test_without_drop_repeats_everything_is_passed_on() -> None:
    radio = FakeRadio([None], with_beacon=True)
    source = BleakScannerSource(scanner_class=radio, drop_repeats=False, clock=lambda: 42.0)
    try:
        records = []
        for record in source.records():
            records.append(record)
            if len(records) == 2:
                break
    finally:
        source.close()
    assert all(r.t == 42.0 and r.rssi == -70 for r in records)
    assert [len(decode_advertisement(r.data).readings) for r in records] == [2, 2]


def test_close_before_any_record_ends_records() -> None:
    source = BleakScannerSource(scanner_class=FakeRadio([0]), silence_timeout=60)
    source.start()
    source.close()
    assert list(source.records()) == []


def test_ad_structures_rebuilt_from_bleak_fields() -> None:
    structures = ad_structures_from_bleak(
        {0xFFFF: b"\x01\x02", 0x004C: b"\x02\x15"},
        {
            "0000feaa-0000-1000-8000-00805f9b34fb": b"\x20\x00",
            "12345678-0000-1000-8000-00805F9B34FB": b"\x09",
            "6f1c2a9e-3b57-4d0e-9a51-5e6a0c2b7d10": b"",
            "not a uuid": b"\x00",
        },
        tx_power=-12,
    )
    assert structures == [
        ("m:ffff", bytes.fromhex("05ffffff0102")),
        ("m:004c", bytes.fromhex("05ff4c000215")),
        ("s:0000feaa-0000-1000-8000-00805f9b34fb", bytes.fromhex("0516aafe2000")),
        ("s:12345678-0000-1000-8000-00805f9b34fb", bytes.fromhex("062078563412") + b"\x09"),
        (
            "s:6f1c2a9e-3b57-4d0e-9a51-5e6a0c2b7d10",
            bytes.fromhex("1121107d2b0c6a5e519a0e4d573b9e2a1c6f"),
        ),
        ("tx", bytes.fromhex("020af4")),
    ]


def test_the_package_works_without_bleak(monkeypatch: pytest.MonkeyPatch) -> None:
    # Importing the package, decoding and replaying never import bleak…
    code = (
        "import sys, firmware_bridge.ble, firmware_bridge.ble.bleak_source,"
        " firmware_bridge.ble.capture, firmware_bridge.ble.bench;"
        " assert 'bleak' not in sys.modules, 'bleak imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    # …and without it the live source says what to install.
    monkeypatch.setitem(sys.modules, "bleak", None)
    with pytest.raises(ImportError, match=r"tianshan\[ble\]"):
        BleakScannerSource()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="silence_timeout"):
        BleakScannerSource(scanner_class=FakeRadio([None]), silence_timeout=0)
