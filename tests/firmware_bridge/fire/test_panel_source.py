"""SerialPanelSource over a pseudo-terminal: ordering, garbage, counters, endings,
encodings, the port vanishing and coming back, stopping."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import serial

from firmware_bridge.fire.errors import ParseReason
from firmware_bridge.fire.panel_parser import DeviceAddress, PanelEvent, PanelEventKind
from firmware_bridge.fire.panel_source import (
    LineEnding,
    PanelPortSettings,
    PanelSource,
    SerialPanelSource,
)
from firmware_bridge.fire.pty_link import PtyPort
from firmware_bridge.fire.sim import PanelPrinterSimulator
from tests.firmware_bridge.fire.helpers import wait_for

pytestmark = pytest.mark.integration

K = PanelEventKind
PANEL_CLOCK = datetime(2024, 3, 14, 10, 32, 15)


class Running:
    """A source iterated in its own thread, its events collected in a queue."""

    def __init__(self, source: SerialPanelSource) -> None:
        self.source = source
        self.stop = threading.Event()
        self.events: queue.Queue[PanelEvent] = queue.Queue()
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panel-source-test")
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self.source.events(self.stop):
                self.events.put(event)
        finally:
            self.finished.set()

    def take(self, n: int, timeout: float = 5.0) -> list[PanelEvent]:
        return [self.events.get(timeout=timeout) for _ in range(n)]

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the source did not stop"


@pytest.fixture
def link(tmp_path: Path) -> Path:
    """A stable device path, like /dev/serial/by-id/... for the panel's adapter."""
    return tmp_path / "ttyPANEL"


@pytest.fixture
def pty(link: Path) -> Iterator[PtyPort]:
    port = PtyPort(link)
    yield port
    port.close()


@contextlib.contextmanager
def running_source(
    link: Path, *, line_ending: LineEnding = LineEnding.AUTO, wait_open: bool = True
) -> Iterator[Running]:
    """A source on ``link`` iterating in a thread; stopped (and checked) on exit."""
    settings = PanelPortSettings(
        str(link), line_ending=line_ending, read_timeout_s=0.05, reopen_interval_s=0.05
    )
    running = Running(SerialPanelSource(settings))
    try:
        if wait_open:
            # Opening a port discards what was buffered: write only once it is open.
            wait_for(lambda: running.source.counters.opens >= 1, what="the port to open")
        yield running
    finally:
        running.close()


@pytest.fixture
def running(pty: PtyPort, link: Path) -> Iterator[Running]:
    with running_source(link) as source:
        yield source


def printer(
    pty: PtyPort, *, encoding: str = "gb18030", line_ending: bytes = b"\r\n"
) -> PanelPrinterSimulator:
    return PanelPrinterSimulator(
        pty.write, clock=lambda: PANEL_CLOCK, seed=7, encoding=encoding, line_ending=line_ending
    )


def same_event(got: PanelEvent, sent: PanelEvent) -> bool:
    return (got.kind, got.restored_kind, got.zone, got.device, got.label, got.sequence) == (
        sent.kind,
        sent.restored_kind,
        sent.zone,
        sent.device,
        sent.label,
        sent.sequence,
    ) and got.printed_at == sent.printed_at


def test_the_source_satisfies_the_protocol(running: Running) -> None:
    source: PanelSource = running.source
    assert source.counters.opens == 1


def test_events_arrive_in_order_between_headers_noise_and_garbage(
    running: Running, pty: PtyPort
) -> None:
    panel = printer(pty)
    before = datetime.now(UTC)
    panel.print_header()
    sent = [panel.print_event(K.ALARM, zone=3, device=DeviceAddress(1, 45), label="3F 走廊 感烟")]
    garbage = [panel.print_garbage(), panel.print_garbage(40)]
    panel.print_noise()
    pty.write(b"hello world\r\n")  # clean text of no known shape
    sent.append(panel.print_event(K.TROUBLE, zone=3, device=DeviceAddress(1, 46), label="感温"))
    pty.write(b"2024-03-14 10:33:00 PREALARM Z003\r\n")
    sent += panel.print_random(8, noise=0.5)
    panel.print_garbage()
    sent.append(panel.print_event(K.RESET))

    got = running.take(len(sent))
    assert all(same_event(g, s) for g, s in zip(got, sent, strict=True))
    assert all(g.received_at is not None and g.received_at >= before for g in got)
    assert running.events.empty()

    counters = running.source.counters
    wait_for(lambda: counters.garbage.total() == 5, what="all garbage counted")
    # Random bytes are mostly noise, but some decode as valid GB18030 hanzi: then
    # they are clean text of no known shape. Either way: counted, skipped.
    garbled = counters.garbage[ParseReason.GARBLED]
    unknown = counters.garbage[ParseReason.UNKNOWN_LINE]
    assert garbled + unknown == len(garbage) + 2  # + the last garbage line, "hello world"
    assert unknown >= 1
    assert counters.garbage[ParseReason.UNKNOWN_EVENT] == 1
    assert counters.events == len(sent)
    assert counters.damaged == 0
    assert counters.ignored >= 5  # header lines and the noise line
    assert counters.lines == counters.events + counters.ignored + counters.garbage.total()
    assert counters.port_errors == 0


def test_a_burst_of_line_noise_does_not_stop_the_source(running: Running, pty: PtyPort) -> None:
    panel = printer(pty)
    for _ in range(50):
        panel.print_garbage(60)
    pty.write(bytes(b for b in range(256) if b not in b"\r\n") * 8)  # 2 kB, no line ending
    pty.write(b"\r\n")
    alarm = panel.print_event(K.ALARM, zone=9, label="4F 楼梯间 感烟")
    (got,) = running.take(1)
    assert same_event(got, alarm)
    counters = running.source.counters
    assert counters.garbage[ParseReason.TOO_LONG] == 1
    assert counters.garbage.total() == 51  # 50 noise lines and the over-long one


@pytest.mark.parametrize(
    ("ending", "declared"),
    [
        (b"\r\n", LineEnding.AUTO),
        (b"\n", LineEnding.AUTO),
        (b"\r", LineEnding.AUTO),
        (b"\r\n", LineEnding.CRLF),
        (b"\n", LineEnding.LF),
        (b"\r", LineEnding.CR),
    ],
)
@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_line_endings_and_encodings(
    pty: PtyPort, link: Path, ending: bytes, declared: LineEnding, encoding: str
) -> None:
    with running_source(link, line_ending=declared) as running:
        panel = printer(pty, encoding=encoding, line_ending=ending)
        sent = [
            panel.print_event(K.ALARM, zone=1, device=DeviceAddress(1, 1), label="1F 大堂 感烟"),
            panel.print_event(K.RESTORE, zone=1, label="1F 大堂 感烟", restored_kind=K.ALARM),
        ]
        got = running.take(2)
        assert all(same_event(g, s) for g, s in zip(got, sent, strict=True))
        assert running.source.counters.ignored == 0  # no phantom blank lines


def test_the_port_disappearing_and_coming_back(running: Running, pty: PtyPort, link: Path) -> None:
    counters = running.source.counters
    first = printer(pty).print_event(K.ALARM, zone=3, label="3F 走廊 感烟")
    assert same_event(running.take(1)[0], first)

    received = counters.bytes_received
    half_line = b"2024-03-14 10:32:15 TROUBLE Z0"  # unplugged mid-line
    pty.write(half_line)
    wait_for(
        lambda: counters.bytes_received == received + len(half_line),
        what="the half line read by the source",
    )
    pty.close()
    assert not link.exists()
    wait_for(lambda: counters.port_errors >= 2, what="loss and a failed reopen counted")
    assert not running.source.is_open
    assert counters.cut_lines == 1  # the half line is dropped, not parsed as "Z0"
    assert counters.lines == 1

    with PtyPort(link) as plugged_in_again:
        wait_for(lambda: counters.opens == 2, what="the source to reopen the port")
        panel = printer(plugged_in_again)
        again = [
            panel.print_event(K.TROUBLE, zone=3, device=DeviceAddress(1, 46), label="感温"),
            panel.print_event(K.RESTORE, zone=3, restored_kind=K.ALARM, label="3F 走廊 感烟"),
        ]
        got = running.take(2)
        assert all(same_event(g, s) for g, s in zip(got, again, strict=True))
        assert not running.finished.is_set()
    assert counters.events == 3


def test_a_port_missing_at_start_is_waited_for(link: Path) -> None:
    with running_source(link, wait_open=False) as running:
        counters = running.source.counters
        wait_for(lambda: counters.port_errors >= 2, what="failed opens counted")
        with PtyPort(link) as pty:
            wait_for(lambda: counters.opens == 1, what="the port opened once it exists")
            alarm = printer(pty).print_event(K.ALARM, zone=2, label="2F 走廊 感烟")
            assert same_event(running.take(1)[0], alarm)


def test_stop_ends_the_iteration_and_closes_the_port(running: Running, pty: PtyPort) -> None:
    assert running.source.is_open
    running.stop.set()
    assert running.finished.wait(timeout=5), "the iteration did not end"
    assert not running.source.is_open


def test_received_at_is_the_arrival_time_not_the_panel_clock(
    running: Running, pty: PtyPort
) -> None:
    printer(pty).print_event(K.SUPERVISORY, zone=10, label="消防泵房 阀门")
    (got,) = running.take(1)
    assert got.printed_at == PANEL_CLOCK
    assert got.received_at is not None
    assert abs(datetime.now(UTC) - got.received_at) < timedelta(minutes=5)


def test_a_port_that_refuses_its_settings_is_retried_not_fatal(pty: PtyPort, link: Path) -> None:
    """A Linux pty takes parity once; opened again with parity, tcsetattr fails and
    pyserial lets termios.error (not a SerialException) out. The source counts it,
    keeps retrying, and still stops when asked."""
    settings = PanelPortSettings(str(link), parity="E", read_timeout_s=0.05, reopen_interval_s=0.05)
    serial.serial_for_url(str(link), baudrate=9600, parity="E").close()  # parity, once
    refused = Running(SerialPanelSource(settings))
    try:
        counters = refused.source.counters
        wait_for(lambda: counters.port_errors >= 3, what="refused opens counted")
        assert counters.opens == 0
        assert not refused.finished.is_set()
    finally:
        refused.close()
    assert refused.finished.is_set()
