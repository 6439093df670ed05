"""The simulators' models without a server: ramps, drift, heartbeat, failure modes,
and the printer simulator's output read back by the parser."""

from __future__ import annotations

import statistics
import time
from datetime import datetime

import pytest

from firmware_bridge.fire.drill import SMOKE_PCT_M, DrillPlan, FireDrill
from firmware_bridge.fire.errors import ParseError
from firmware_bridge.fire.modbus_map import Reg, decode_registers
from firmware_bridge.fire.panel_parser import DeviceAddress, PanelEvent, PanelEventKind, parse_line
from firmware_bridge.fire.sim import (
    AMBIENT_C,
    CLEAN_AIR_PCT_PER_M,
    FRESH_BATTERY_MV,
    DetectorSimulator,
    PanelPrinterSimulator,
)

K = PanelEventKind


@pytest.fixture
def sim() -> DetectorSimulator:
    return DetectorSimulator([1, 2], drift=False, tick_s=None)


def test_detectors_start_as_clean_quiet_and_powered(sim: DetectorSimulator) -> None:
    reading = decode_registers(sim.registers(1))
    assert reading.temperature_c == AMBIENT_C
    assert reading.obscuration_pct_per_m == CLEAN_AIR_PCT_PER_M
    assert reading.battery_mv == FRESH_BATTERY_MV
    flags = (reading.alarm, reading.fault, reading.low_battery, reading.dirty_chamber)
    assert flags == (False, False, False, False)
    assert sim.units == (1, 2)


def test_a_ramp_rises_at_its_rate_and_stops_at_its_end(sim: DetectorSimulator) -> None:
    sim.ramp_temperature(1, 8.0, until_c=30.0)
    sim.advance(45.0)
    assert sim.reading(1).temperature_c == pytest.approx(28.0)
    assert sim.reading(2).temperature_c == AMBIENT_C  # only the detector under the fire
    sim.advance(60.0)
    assert sim.reading(1).temperature_c == 30.0
    sim.ramp_temperature(1, -6.0, until_c=25.0)  # cooling down after the fire is out
    sim.advance(30.0)
    assert sim.reading(1).temperature_c == pytest.approx(27.0)
    sim.advance(120.0)
    assert sim.reading(1).temperature_c == 25.0
    sim.ramp_temperature(1, 5.0)
    sim.set_temperature(1, 21.0)  # setting a value ends the ramp
    sim.advance(60.0)
    assert sim.reading(1).temperature_c == 21.0


def test_the_heartbeat_counts_whole_seconds_and_wraps(sim: DetectorSimulator) -> None:
    for _ in range(10):
        sim.advance(0.25)
    assert sim.reading(1).heartbeat == 2
    sim.set_heartbeat(1, 65535)
    sim.advance(1.0)
    assert sim.reading(1).heartbeat == 0
    sim.set_heartbeat(1, 9, frozen=True)
    sim.advance(10.0)
    assert sim.reading(1).heartbeat == 9
    sim.set_heartbeat(1, 9, frozen=False)
    sim.advance(1.0)
    assert sim.reading(1).heartbeat == 10


def test_drift_wanders_around_the_set_values_and_never_goes_negative() -> None:
    noisy = DetectorSimulator([1], drift=True, seed=42, tick_s=None)
    noisy.set_obscuration(1, 0.01)  # almost no smoke: noise must not make it negative
    temperatures, obscurations, batteries = [], [], []
    for _ in range(3600):  # an hour in one-second steps
        noisy.advance(1.0)
        reading = decode_registers(noisy.registers(1))
        temperatures.append(reading.temperature_c)
        obscurations.append(reading.obscuration_pct_per_m)
        batteries.append(reading.battery_mv)
    assert len(set(temperatures)) > 10, "the temperature should move"
    assert abs(statistics.fmean(temperatures) - AMBIENT_C) < 0.2
    assert max(abs(t - AMBIENT_C) for t in temperatures) < 1.0
    assert min(obscurations) >= 0.0
    assert max(obscurations) < 0.2
    assert max(abs(b - FRESH_BATTERY_MV) for b in batteries) < 20


def test_the_same_seed_drifts_the_same_way() -> None:
    runs = []
    for _ in range(2):
        s = DetectorSimulator([1], drift=True, seed=5, tick_s=None)
        s.advance(30.0)
        runs.append(s.registers(1))
    assert runs[0] == runs[1]


def test_identity_can_be_changed_to_play_another_device(sim: DetectorSimulator) -> None:
    sim.set_identity(2, device_type=0x1234, map_version=0x0201, firmware_version=0x0305)
    words = sim.registers(2)
    assert (words[Reg.DEVICE_TYPE], words[Reg.MAP_VERSION], words[Reg.FIRMWARE]) == (
        0x1234,
        0x0201,
        0x0305,
    )


def test_driving_mistakes_are_refused(sim: DetectorSimulator) -> None:
    with pytest.raises(KeyError, match="unit 7"):
        sim.set_temperature(7, 30.0)
    with pytest.raises(ValueError, match="99"):
        sim.set_exception(1, 99)  # not a Modbus exception code
    with pytest.raises(ValueError, match="unit ids"):
        DetectorSimulator([0])
    sim.stop()  # stopping what never started is fine


class Paper:
    """The printer's paper: everything written, cut into lines."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def lines(self) -> list[bytes]:
        return bytes(self.data).split(b"\r\n")[:-1]


def parse_all(lines: list[bytes]) -> tuple[list[PanelEvent], int, int]:
    events, ignored, garbage = [], 0, 0
    for line in lines:
        try:
            event = parse_line(line)
        except ParseError:
            garbage += 1
            continue
        if event is None:
            ignored += 1
        else:
            events.append(event)
    return events, ignored, garbage


def test_printed_events_read_back_as_themselves() -> None:
    paper = Paper()
    at = datetime(2024, 3, 14, 10, 32, 15)
    printer = PanelPrinterSimulator(paper.write, clock=lambda: at)
    printer.print_header()
    sent = [
        printer.print_event(K.ALARM, zone=3, device=DeviceAddress(1, 45), label="3F  走廊 感烟"),
        printer.print_event(K.RESTORE, zone=3, restored_kind=K.ALARM, label="3F 走廊 感烟"),
        printer.print_event(K.RESET),
    ]
    events, ignored, garbage = parse_all(paper.lines())
    assert [(e.kind, e.zone, e.device, e.label, e.sequence) for e in events] == [
        (s.kind, s.zone, s.device, s.label, s.sequence) for s in sent
    ]
    assert sent[0].label == "3F 走廊 感烟"
    assert [s.sequence for s in sent] == [1, 2, 3]
    assert all(e.printed_at == at for e in events)
    assert (ignored, garbage) == (5, 0)  # the header is five non-event lines


def test_random_printing_is_plausible_and_reads_back() -> None:
    paper = Paper()
    printer = PanelPrinterSimulator(paper.write, seed=11)
    sent = printer.print_random(60, noise=0.3)
    for _ in range(5):
        printer.print_garbage()
    events, ignored, garbage = parse_all(paper.lines())
    assert [(e.kind, e.restored_kind, e.zone, e.label) for e in events] == [
        (s.kind, s.restored_kind, s.zone, s.label) for s in sent
    ]
    assert ignored > 0
    assert garbage == 5
    # A restore only follows a condition of that kind at that place.
    active: set[tuple[PanelEventKind, int | None]] = set()
    for event in events:
        if event.kind is K.RESTORE:
            assert event.restored_kind is not None
            active.remove((event.restored_kind, event.zone))
        else:
            active.add((event.kind, event.zone))


def test_utf8_panels_and_lf_endings() -> None:
    written: list[bytes] = []
    printer = PanelPrinterSimulator(written.append, encoding="utf-8", line_ending=b"\n")
    printer.print_event(K.SUPERVISORY, zone=10, label="消防泵房 阀门")
    assert written[0].endswith("消防泵房 阀门\n".encode())
    event = parse_line(written[0])
    assert event is not None
    assert event.label == "消防泵房 阀门"


def test_a_drill_raises_smoke_at_two_units_in_turn_then_clears(sim: DetectorSimulator) -> None:
    plan = DrillPlan(build_up_s=0.2, second_after_s=0.3, hold_s=0.3, steps=2)
    drill = FireDrill(sim, units=(1, 2), every_s=60.0, plan=plan, first_s=0.0)
    seen: list[tuple[float, float]] = []
    drill.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            seen.append(
                (sim.reading(1).obscuration_pct_per_m, sim.reading(2).obscuration_pct_per_m)
            )
            if drill.drills == 1 and seen[-1] == (CLEAN_AIR_PCT_PER_M, CLEAN_AIR_PCT_PER_M):
                break
            time.sleep(0.02)
    finally:
        drill.stop()
    first_alone = [s for s in seen if s[0] >= SMOKE_PCT_M - 0.01 and s[1] < 1.0]
    both = [s for s in seen if min(s) >= SMOKE_PCT_M - 0.01]
    assert first_alone, "the first unit alarms before the second"
    assert both, "then both are in smoke"
    assert seen[-1] == (CLEAN_AIR_PCT_PER_M, CLEAN_AIR_PCT_PER_M)  # and the air clears


def test_a_drill_refuses_units_it_does_not_simulate_and_overlapping_drills(
    sim: DetectorSimulator,
) -> None:
    with pytest.raises(ValueError, match="not simulated"):
        FireDrill(sim, units=(1, 9), every_s=600.0)
    with pytest.raises(ValueError, match="must be longer"):
        FireDrill(sim, units=(1, 2), every_s=60.0)  # a default drill lasts 120 s
