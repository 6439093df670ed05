"""ModbusDetectorSource against pymodbus's own server (through DetectorSimulator):
Modbus TCP on a free port and Modbus RTU through a pty null modem."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware_bridge.fire.errors import RegisterDecodeReason
from firmware_bridge.fire.modbus_map import DetectorReading, decode_registers, heartbeat_delta
from firmware_bridge.fire.modbus_source import (
    Detector,
    DetectorProblem,
    DetectorResult,
    DetectorSource,
    ModbusDetectorSource,
    ModbusRtuLink,
    ModbusTcpLink,
    ProblemReason,
    RegisterKind,
)
from firmware_bridge.fire.pty_link import NullModem
from firmware_bridge.fire.sim import DetectorSimulator
from tests.firmware_bridge.fire.helpers import wait_for

pytestmark = pytest.mark.integration

P = ProblemReason
DETECTORS = [
    Detector("b3-2f-corridor", 1),
    Detector("b3-3f-corridor", 2),
    Detector("b3-kitchen", 3),
]
TIMEOUT_S = 0.2


@pytest.fixture
def sim() -> Iterator[DetectorSimulator]:
    """Three detectors, no noise, time moves only when the test says."""
    with DetectorSimulator([1, 2, 3], drift=False, tick_s=None) as simulator:
        yield simulator


@pytest.fixture
def tcp_port(sim: DetectorSimulator) -> int:
    return sim.start_tcp()


@pytest.fixture
def source(tcp_port: int) -> Iterator[ModbusDetectorSource]:
    with ModbusDetectorSource(
        ModbusTcpLink("127.0.0.1", tcp_port), DETECTORS, timeout_s=TIMEOUT_S, poll_interval_s=0.05
    ) as polling:
        yield polling


def readings(results: list[DetectorResult]) -> list[DetectorReading]:
    out = [r.reading for r in results]
    assert all(r is not None for r in out), [r.outcome for r in results]
    return [r for r in out if r is not None]


def problem(result: DetectorResult) -> DetectorProblem:
    assert result.problem is not None, result.outcome
    return result.problem


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_detector_gives_a_reading(
    sim: DetectorSimulator, source: ModbusDetectorSource
) -> None:
    as_protocol: DetectorSource = source
    before = datetime.now(UTC)
    results = as_protocol.poll_once()
    assert [r.detector for r in results] == DETECTORS
    assert readings(results) == [decode_registers(sim.registers(u)) for u in (1, 2, 3)]
    first = results[0]
    assert first.reading is not None
    assert first.reading.temperature_c == 22.0
    assert first.reading.obscuration_pct_per_m == 0.08
    assert first.consecutive_problems == 0
    assert first.polled_at >= before
    assert first.polled_at.tzinfo is UTC
    assert results[0].monotonic_s <= results[1].monotonic_s <= results[2].monotonic_s
    assert source.counters.snapshot() == {"polls": 1, "readings": 3, "connects": 1}


def test_driven_values_and_bits_arrive(
    sim: DetectorSimulator, source: ModbusDetectorSource
) -> None:
    sim.set_temperature(1, 57.3)
    sim.set_status(1, alarm=True, dirty_chamber=True)
    sim.set_obscuration(2, 3.5)
    sim.set_status(2, fault=True)
    sim.set_battery(3, 2550)
    sim.set_status(3, low_battery=True)
    one, two, three = readings(source.poll_once())
    assert (one.temperature_c, one.alarm, one.dirty_chamber, one.fault) == (57.3, True, True, False)
    assert (two.obscuration_pct_per_m, two.fault, two.alarm) == (3.5, True, False)
    assert (three.battery_mv, three.low_battery, three.alarm) == (2550, True, False)
    sim.set_status(1, alarm=False)
    assert not readings(source.poll_once())[0].alarm


def test_a_rate_of_rise_ramp_is_seen_between_polls(
    sim: DetectorSimulator, source: ModbusDetectorSource
) -> None:
    sim.ramp_temperature(2, 12.0, until_c=40.0)  # 12 °C/min under detector 2
    temps = []
    for _ in range(4):
        temps.append(readings(source.poll_once())[1].temperature_c)
        sim.advance(30.0)
    assert temps == [22.0, 28.0, 34.0, 40.0]
    sim.advance(60.0)
    assert readings(source.poll_once())[1].temperature_c == 40.0  # held at until_c


def test_heartbeat_wraps_and_freezes(sim: DetectorSimulator, source: ModbusDetectorSource) -> None:
    sim.set_heartbeat(1, 65534)
    before = readings(source.poll_once())[0].heartbeat
    sim.advance(3.0)
    after = readings(source.poll_once())[0].heartbeat
    assert (before, after) == (65534, 1)
    assert heartbeat_delta(before, after) == 3
    sim.set_heartbeat(1, 100, frozen=True)  # hung firmware that still answers
    sim.advance(5.0)
    assert readings(source.poll_once())[0].heartbeat == 100


def test_a_silent_detector_does_not_stop_the_others_and_recovers(
    sim: DetectorSimulator, source: ModbusDetectorSource
) -> None:
    sim.set_responding(2, False)
    for expected_in_a_row in (1, 2):
        one, two, three = source.poll_once()
        assert one.reading is not None
        assert three.reading is not None
        assert problem(two).reason is P.NO_RESPONSE
        assert two.consecutive_problems == expected_in_a_row
        assert one.consecutive_problems == 0
    assert sim.reads(2) == 0
    assert sim.reads(3) == 2

    sim.set_responding(2, True)
    recovered = source.poll_once()[1]
    assert recovered.reading is not None
    assert recovered.consecutive_problems == 0
    assert source.counters.problems.snapshot() == {P.NO_RESPONSE: 2}
    assert source.counters.readings == 7
    assert source.counters.connects == 1  # one silent unit is not a broken link


def test_an_exception_response_is_reported_with_its_code(
    sim: DetectorSimulator, source: ModbusDetectorSource
) -> None:
    sim.set_exception(3, 4)  # device failure
    one, two, three = source.poll_once()
    assert problem(three).reason is P.EXCEPTION_RESPONSE
    assert problem(three).exception_code == 4
    assert one.reading is not None
    assert two.reading is not None
    sim.set_exception(3, None)
    assert source.poll_once()[2].reading is not None


@pytest.mark.parametrize("code", [0x0A, 0x0B])
def test_a_gateway_saying_the_unit_is_silent_is_no_response(
    sim: DetectorSimulator, source: ModbusDetectorSource, code: int
) -> None:
    sim.set_exception(2, code)
    silent = problem(source.poll_once()[1])
    assert (silent.reason, silent.exception_code) == (P.NO_RESPONSE, code)


def test_a_short_answer_is_malformed(sim: DetectorSimulator, source: ModbusDetectorSource) -> None:
    sim.set_short_response(1, 3)
    short = problem(source.poll_once()[0])
    assert short.reason is P.MALFORMED_RESPONSE
    assert "5 registers" in short.detail
    sim.set_short_response(1, 0)
    assert source.poll_once()[0].reading is not None


@pytest.mark.parametrize(
    ("drive", "reason"),
    [
        (lambda s: s.set_identity(2, device_type=0x5757), RegisterDecodeReason.WRONG_DEVICE_TYPE),
        (
            lambda s: s.set_identity(2, map_version=0x0200),
            RegisterDecodeReason.UNSUPPORTED_MAP_VERSION,
        ),
        (lambda s: s.set_temperature(2, 200.0), RegisterDecodeReason.TEMPERATURE_OUT_OF_RANGE),
        (lambda s: s.set_obscuration(2, 80.0), RegisterDecodeReason.OBSCURATION_OUT_OF_RANGE),
        (lambda s: s.set_battery(2, 15_000), RegisterDecodeReason.BATTERY_OUT_OF_RANGE),
    ],
)
def test_words_that_do_not_decode_are_a_decode_error(
    sim: DetectorSimulator,
    source: ModbusDetectorSource,
    drive: object,
    reason: RegisterDecodeReason,
) -> None:
    assert callable(drive)
    drive(sim)
    one, two, three = source.poll_once()
    assert (problem(two).reason, problem(two).decode_reason) == (P.DECODE_ERROR, reason)
    assert one.reading is not None
    assert three.reading is not None
    assert source.counters.problems[P.DECODE_ERROR] == 1


def test_a_unit_nobody_answers_for_is_no_response(tcp_port: int) -> None:
    detectors = [Detector("present", 1), Detector("absent", 9)]
    with ModbusDetectorSource(
        ModbusTcpLink("127.0.0.1", tcp_port), detectors, timeout_s=TIMEOUT_S
    ) as polling:
        present, absent = polling.poll_once()
    assert present.reading is not None
    assert problem(absent).reason is P.NO_RESPONSE


def test_holding_registers_serve_the_same_map(sim: DetectorSimulator, tcp_port: int) -> None:
    sim.set_temperature(3, -5.5)
    with ModbusDetectorSource(
        ModbusTcpLink("127.0.0.1", tcp_port),
        DETECTORS,
        timeout_s=TIMEOUT_S,
        register_kind=RegisterKind.HOLDING,
    ) as polling:
        assert readings(polling.poll_once())[2].temperature_c == -5.5


def test_no_server_means_no_connection_for_all_without_waiting_per_detector() -> None:
    with ModbusDetectorSource(
        ModbusTcpLink("127.0.0.1", free_port()), DETECTORS, timeout_s=TIMEOUT_S
    ) as polling:
        results = polling.poll_once()
        assert [problem(r).reason for r in results] == [P.NO_CONNECTION] * 3
        assert polling.counters.snapshot() == {
            "polls": 1,
            "readings": 0,
            "connects": 0,
            "problem.no_connection": 3,
        }


def test_the_gateway_restarting_is_survived(sim: DetectorSimulator, tcp_port: int) -> None:
    with ModbusDetectorSource(
        ModbusTcpLink("127.0.0.1", tcp_port), DETECTORS, timeout_s=TIMEOUT_S
    ) as polling:
        assert len(readings(polling.poll_once())) == 3
        sim.stop()  # the gateway goes away
        down = polling.poll_once()
        assert [problem(r).reason for r in down] == [P.NO_CONNECTION] * 3
        assert [r.consecutive_problems for r in down] == [1, 1, 1]
        with DetectorSimulator([1, 2, 3], drift=False, tick_s=None) as restarted:
            restarted.start_tcp(port=tcp_port)
            restarted.set_temperature(1, 30.0)
            back = polling.poll_once()
            assert readings(back)[0].temperature_c == 30.0
            assert [r.consecutive_problems for r in back] == [0, 0, 0]
        assert polling.counters.connects == 2


def test_polls_repeats_until_stopped(sim: DetectorSimulator, source: ModbusDetectorSource) -> None:
    stop = threading.Event()
    passes = []
    for results in source.polls(stop):
        passes.append(results)
        sim.advance(1.0)
        if len(passes) == 3:
            stop.set()
    assert len(passes) == 3
    assert [readings(p)[0].heartbeat for p in passes] == [0, 1, 2]
    assert source.counters.polls == 3


def test_polls_keeps_going_through_problems(sim: DetectorSimulator, tcp_port: int) -> None:
    """The iterator never raises, whatever the detectors do, and stops from another thread."""
    stop = threading.Event()
    seen: list[list[DetectorResult]] = []
    with ModbusDetectorSource(
        ModbusTcpLink("127.0.0.1", tcp_port), DETECTORS, timeout_s=TIMEOUT_S, poll_interval_s=0.01
    ) as polling:

        def consume() -> None:
            for results in polling.polls(stop):
                seen.append(results)

        worker = threading.Thread(target=consume)
        worker.start()
        sim.set_responding(1, False)
        sim.set_exception(2, 6)
        sim.set_short_response(3, 1)
        wait_for(lambda: polling.counters.problems.total() >= 6, what="problems while polling")
        sim.set_responding(1, True)
        sim.set_exception(2, None)
        sim.set_short_response(3, 0)
        wait_for(lambda: seen and all(r.reading for r in seen[-1]), what="all detectors back")
        stop.set()
        worker.join(timeout=5)
        assert not worker.is_alive()
    reasons = polling.counters.problems.snapshot()
    assert set(reasons) == {P.NO_RESPONSE, P.EXCEPTION_RESPONSE, P.MALFORMED_RESPONSE}


def test_heartbeat_counts_in_real_time_when_ticking() -> None:
    with DetectorSimulator([1], drift=True, seed=1, tick_s=0.05) as ticking:
        port = ticking.start_tcp()
        with ModbusDetectorSource(
            ModbusTcpLink("127.0.0.1", port), [Detector("d1", 1)], timeout_s=1.0
        ) as polling:
            first = readings(polling.poll_once())[0]

            def moved() -> DetectorReading | None:
                reading = polling.poll_once()[0].reading
                return reading if reading and reading.heartbeat != first.heartbeat else None

            later = wait_for(moved, timeout=5, what="the heartbeat to move")
    assert heartbeat_delta(first.heartbeat, later.heartbeat) >= 1
    assert abs(later.temperature_c - 22.0) < 2.0  # drift wanders, it does not run away


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Detector("has space", 1),
        lambda: Detector("", 1),
        lambda: Detector("x" * 65, 1),
        lambda: Detector("ok", 0),
        lambda: Detector("ok", 248),
        lambda: ModbusDetectorSource(ModbusTcpLink("h"), []),
        lambda: ModbusDetectorSource(ModbusTcpLink("h"), [Detector("a", 1), Detector("b", 1)]),
        lambda: ModbusDetectorSource(ModbusTcpLink("h"), [Detector("a", 1), Detector("a", 2)]),
        lambda: ModbusDetectorSource(ModbusTcpLink("h"), [Detector("a", 1)], timeout_s=0),
    ],
)
def test_configuration_mistakes_are_refused(bad: object) -> None:
    assert callable(bad)
    with pytest.raises(ValueError, match=r"."):
        bad()


# ----------------------------------------------------------------------- RTU


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[NullModem]:
    """An RS-485 adapter (end A, ours) wired to the detectors (end B)."""
    with NullModem(tmp_path / "ttyUSB0", tmp_path / "ttyDETECTORS") as modem:
        yield modem


def test_rtu_readings_silence_exception_and_recovery(
    sim: DetectorSimulator, cable: NullModem
) -> None:
    # Parity stays N: see the pty_link docstring (ptys only take it once).
    sim.start_rtu(cable.path_b, baudrate=19200)
    sim.set_temperature(1, 23.4)
    link = ModbusRtuLink(cable.path_a, baudrate=19200)
    with ModbusDetectorSource(link, DETECTORS, timeout_s=TIMEOUT_S) as polling:
        assert readings(polling.poll_once())[0].temperature_c == 23.4

        sim.set_responding(2, False)
        sim.set_exception(3, 6)
        one, two, three = polling.poll_once()
        assert one.reading is not None
        assert problem(two).reason is P.NO_RESPONSE
        assert (problem(three).reason, problem(three).exception_code) == (P.EXCEPTION_RESPONSE, 6)

        sim.set_responding(2, True)
        sim.set_exception(3, None)
        assert len(readings(polling.poll_once())) == 3
        assert polling.counters.connects == 1


def test_rtu_adapter_unplugged_and_plugged_in_again(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ttyUSB0", tmp_path / "ttyDETECTORS"
    with ModbusDetectorSource(ModbusRtuLink(str(ours)), DETECTORS, timeout_s=TIMEOUT_S) as polling:
        missing = polling.poll_once()
        assert [problem(r).reason for r in missing] == [P.NO_CONNECTION] * 3

        for round_ in (1, 2):
            with (
                NullModem(ours, theirs) as modem,
                DetectorSimulator([1, 2, 3], drift=False, tick_s=None) as detectors,
            ):
                detectors.start_rtu(modem.path_b)
                detectors.set_temperature(3, 20.0 + round_)
                assert readings(polling.poll_once())[2].temperature_c == 20.0 + round_
            gone = polling.poll_once()  # the adapter is gone again
            assert [problem(r).reason for r in gone] == [P.NO_CONNECTION] * 3
        assert polling.counters.connects == 2


def test_serial_settings_the_port_refuses_are_no_connection(cable: NullModem) -> None:
    """A port that refuses its settings: a Linux pty accepts parity once, and the
    pymodbus client reconfigures the port right after opening it, so pyserial raises
    termios.error (not SerialException). The source reports it and carries on."""
    link = ModbusRtuLink(cable.path_a, parity="E")
    with ModbusDetectorSource(link, DETECTORS, timeout_s=TIMEOUT_S) as polling:
        for _ in range(2):
            assert [problem(r).reason for r in polling.poll_once()] == [P.NO_CONNECTION] * 3
        assert polling.counters.polls == 2
