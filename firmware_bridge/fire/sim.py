"""Simulated fire devices for tests, ``tianshan sim`` and the demo.

* :class:`DetectorSimulator`: N smoke/heat detectors behind pymodbus's own Modbus
  server, over TCP and/or RTU on a serial device (a pty from
  :mod:`firmware_bridge.fire.pty_link` works). Values drift like real sensors and
  every detector can be driven: temperature, rate-of-rise ramps, obscuration,
  battery, status bits, heartbeat, silence (communication lost), exception answers,
  short answers, posing as another device.
* :class:`PanelPrinterSimulator`: a fire alarm panel's printer port, printing event
  lines (GB18030 by default) with the headers, noise and garbage real ports carry.

Example (a TCP simulator and a source polling it)::

    with DetectorSimulator([1, 2, 3]) as sim:
        port = sim.start_tcp()
        ...  # ModbusDetectorSource(ModbusTcpLink("127.0.0.1", port), ...)
        sim.ramp_temperature(2, 10.0)  # 10 °C/min: rate-of-rise
        sim.set_responding(3, False)  # communication lost
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_bridge.fire.modbus_map import (
    DEVICE_TYPE_SMOKE_HEAT,
    FIRST_REGISTER,
    HEARTBEAT_MODULUS,
    MAP_VERSION,
    REGISTER_COUNT,
    DetectorReading,
    encode_registers,
)
from firmware_bridge.fire.panel_parser import (
    DeviceAddress,
    PanelEvent,
    PanelEventKind,
    format_line,
)

log = logging.getLogger(__name__)

AMBIENT_C = 22.0
"""Room temperature the detectors start at."""
CLEAN_AIR_PCT_PER_M = 0.08
"""Obscuration a clean chamber reads in clean air (not quite zero: scattering, dust)."""
FRESH_BATTERY_MV = 3_050
"""A fresh 3 V lithium cell (CR123A) under the detector's light load."""


@dataclass
class _Unit:
    """One simulated detector's state. Guarded by the simulator's lock."""

    unit: int
    temperature_c: float = AMBIENT_C
    ramp_c_per_min: float = 0.0
    ramp_to_c: float | None = None
    obscuration_pct_per_m: float = CLEAN_AIR_PCT_PER_M
    battery_mv: float = FRESH_BATTERY_MV
    alarm: bool = False
    fault: bool = False
    low_battery: bool = False
    dirty_chamber: bool = False
    heartbeat: int = 0
    heartbeat_phase_s: float = 0.0
    heartbeat_frozen: bool = False
    responding: bool = True
    exception_code: ExcCodes | None = None
    drop_registers: int = 0
    device_type: int = DEVICE_TYPE_SMOKE_HEAT
    map_version: int = MAP_VERSION
    firmware_version: int = 0x0102
    reads: int = 0
    # Sensor noise, each an Ornstein-Uhlenbeck process around 0: it wanders and
    # returns, like a real sensor's reading in still air.
    temperature_noise: float = 0.0
    obscuration_noise: float = 0.0
    battery_noise: float = 0.0

    def reading(self) -> DetectorReading:
        return DetectorReading(
            alarm=self.alarm,
            fault=self.fault,
            low_battery=self.low_battery,
            dirty_chamber=self.dirty_chamber,
            temperature_c=self.temperature_c + self.temperature_noise,
            obscuration_pct_per_m=max(0.0, self.obscuration_pct_per_m + self.obscuration_noise),
            battery_mv=round(self.battery_mv + self.battery_noise),
            heartbeat=self.heartbeat,
            map_version=self.map_version,
            firmware_version=self.firmware_version,
        )


@dataclass(frozen=True)
class _Noise:
    sigma: float
    tau_s: float


_TEMPERATURE_NOISE = _Noise(sigma=0.15, tau_s=20.0)
_OBSCURATION_NOISE = _Noise(sigma=0.02, tau_s=5.0)
_BATTERY_NOISE = _Noise(sigma=3.0, tau_s=60.0)


def _ou_step(x: float, noise: _Noise, dt: float, rng: random.Random) -> float:
    """One exact step of an Ornstein-Uhlenbeck process (stationary std ``sigma``)."""
    decay = math.exp(-dt / noise.tau_s)
    return x * decay + noise.sigma * math.sqrt(1 - decay * decay) * rng.gauss(0.0, 1.0)


@dataclass
class _Server:
    server: Any
    description: str
    extra: dict[str, Any] = field(default_factory=dict)


class DetectorSimulator:
    """Smoke/heat detectors served by pymodbus's own Modbus server.

    The server runs on an asyncio loop in a background thread; the driving methods
    may be called from any thread and take effect on the next request. Each unit
    answers with our register map (:mod:`firmware_bridge.fire.modbus_map`); units
    not configured stay silent, as on a real RS-485 line.

    Time: with ``tick_s`` set (default), the model follows the monotonic clock
    (drift, ramps, heartbeat once a second). With ``tick_s=None`` it only moves when
    :meth:`advance` is called, so a test can step time exactly.

    Args:
        units: Modbus unit ids to host (1..247).
        drift: Add realistic sensor noise; off for exact values in tests.
        seed: Seed for the noise.
        tick_s: Model update period in real time, or None for manual time.
    """

    def __init__(
        self,
        units: Iterable[int] = (1, 2, 3),
        *,
        drift: bool = True,
        seed: int | None = None,
        tick_s: float | None = 0.1,
    ) -> None:
        self._units = {u: _Unit(u) for u in units}
        if not self._units or not all(1 <= u <= 247 for u in self._units):
            raise ValueError("units must be Modbus unit ids 1..247")
        self._drift = drift
        self._rng = random.Random(seed)
        self._tick_s = tick_s
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._servers: list[_Server] = []

    # ----------------------------------------------------------------- serving

    @property
    def units(self) -> Sequence[int]:
        """The hosted unit ids."""
        return tuple(self._units)

    def start_tcp(self, *, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve Modbus TCP.

        Args:
            host: Interface to listen on.
            port: TCP port; 0 picks a free one.

        Returns:
            The port listened on.
        """

        async def make() -> _Server:
            server = ModbusTcpServer(
                self._devices(),
                address=(host, port),
                ignore_missing_devices=True,
                trace_pdu=self._trace_pdu,
            )
            await server.serve_forever(background=True)
            listener: Any = server.transport  # an asyncio.Server once listening
            bound = listener.sockets[0].getsockname()[1]
            return _Server(server, f"tcp:{host}:{bound}", {"port": bound})

        started = self._start(make)
        return int(started.extra["port"])

    def start_rtu(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        parity: str = "N",
        bytesize: int = 8,
        stopbits: int = 1,
    ) -> None:
        """Serve Modbus RTU on a serial device (e.g. one end of a
        :class:`~firmware_bridge.fire.pty_link.NullModem`).

        Args:
            port: Device path or pyserial URL.
            baudrate: Line speed.
            parity: ``"N"``, ``"E"`` or ``"O"``.
            bytesize: Data bits.
            stopbits: Stop bits.
        """

        async def make() -> _Server:
            server = ModbusSerialServer(
                self._devices(),
                port=port,
                baudrate=baudrate,
                parity=parity,
                bytesize=bytesize,
                stopbits=stopbits,
                ignore_missing_devices=True,
                trace_pdu=self._trace_pdu,
            )
            await server.serve_forever(background=True)
            return _Server(server, f"rtu:{port}")

        self._start(make)

    def stop(self) -> None:
        """Stop every server and the background loop (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> DetectorSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- driving

    def set_temperature(self, unit: int, celsius: float) -> None:
        """Set the air temperature at ``unit`` (stops any ramp)."""
        with self._lock:
            state = self._unit(unit)
            state.temperature_c = celsius
            state.ramp_c_per_min = 0.0
            state.ramp_to_c = None

    def ramp_temperature(
        self, unit: int, c_per_min: float, *, until_c: float | None = None
    ) -> None:
        """Let the temperature at ``unit`` rise (or fall) steadily: a fire under a
        heat detector. EN 54-5 tests rate-of-rise detectors at 1-30 °C/min.

        Args:
            unit: The detector.
            c_per_min: Rate; 0 stops the ramp.
            until_c: Stop there, if given.
        """
        with self._lock:
            state = self._unit(unit)
            state.ramp_c_per_min = c_per_min
            state.ramp_to_c = until_c

    def set_obscuration(self, unit: int, pct_per_m: float) -> None:
        """Set the smoke obscuration the chamber sees at ``unit``, in %/m."""
        with self._lock:
            self._unit(unit).obscuration_pct_per_m = pct_per_m

    def set_battery(self, unit: int, millivolts: float) -> None:
        """Set the battery voltage of ``unit``."""
        with self._lock:
            self._unit(unit).battery_mv = millivolts

    def set_status(
        self,
        unit: int,
        *,
        alarm: bool | None = None,
        fault: bool | None = None,
        low_battery: bool | None = None,
        dirty_chamber: bool | None = None,
    ) -> None:
        """Set status bits of ``unit``; bits given as None stay as they are."""
        with self._lock:
            state = self._unit(unit)
            if alarm is not None:
                state.alarm = alarm
            if fault is not None:
                state.fault = fault
            if low_battery is not None:
                state.low_battery = low_battery
            if dirty_chamber is not None:
                state.dirty_chamber = dirty_chamber

    def set_heartbeat(self, unit: int, value: int, *, frozen: bool | None = None) -> None:
        """Set the heartbeat counter of ``unit`` (e.g. near 65535 to see the wrap).

        Args:
            unit: The detector.
            value: New counter value (taken modulo 65536).
            frozen: True stops the counter (a hung firmware that still answers),
                False restarts it, None leaves it.
        """
        with self._lock:
            state = self._unit(unit)
            state.heartbeat = value % HEARTBEAT_MODULUS
            if frozen is not None:
                state.heartbeat_frozen = frozen

    def set_responding(self, unit: int, responding: bool) -> None:
        """False makes ``unit`` silent (communication lost); True brings it back."""
        with self._lock:
            self._unit(unit).responding = responding

    def set_exception(self, unit: int, code: int | None) -> None:
        """Answer every request to ``unit`` with Modbus exception ``code`` (e.g. 4,
        device failure; 6, busy), or answer normally again with None."""
        with self._lock:
            self._unit(unit).exception_code = ExcCodes(code) if code is not None else None

    def set_short_response(self, unit: int, missing: int) -> None:
        """Answer ``unit``'s reads with ``missing`` registers too few (0: normal)."""
        with self._lock:
            self._unit(unit).drop_registers = max(0, missing)

    def set_identity(
        self,
        unit: int,
        *,
        device_type: int | None = None,
        map_version: int | None = None,
        firmware_version: int | None = None,
    ) -> None:
        """Make ``unit`` pose as another device or map version (for wrong-device tests)."""
        with self._lock:
            state = self._unit(unit)
            if device_type is not None:
                state.device_type = device_type
            if map_version is not None:
                state.map_version = map_version
            if firmware_version is not None:
                state.firmware_version = firmware_version

    def advance(self, seconds: float) -> None:
        """Move the model forward: ramps, drift and heartbeats."""
        if seconds <= 0:
            return
        with self._lock:
            for state in self._units.values():
                self._advance_unit(state, seconds)

    # ---------------------------------------------------------------- looking

    def registers(self, unit: int) -> list[int]:
        """The words ``unit`` would answer with now."""
        with self._lock:
            state = self._unit(unit)
            return encode_registers(state.reading(), device_type=state.device_type)

    def reading(self, unit: int) -> DetectorReading:
        """The state of ``unit`` now, before encoding (unrounded)."""
        with self._lock:
            return self._unit(unit).reading()

    def reads(self, unit: int) -> int:
        """How many read requests ``unit`` has answered normally."""
        with self._lock:
            return self._unit(unit).reads

    # --------------------------------------------------------------- internals

    def _unit(self, unit: int) -> _Unit:
        try:
            return self._units[unit]
        except KeyError:
            raise KeyError(f"unit {unit} is not simulated here") from None

    def _advance_unit(self, state: _Unit, dt: float) -> None:
        if state.ramp_c_per_min:
            target = state.temperature_c + state.ramp_c_per_min * dt / 60
            if state.ramp_to_c is not None and (
                (state.ramp_c_per_min > 0 and target >= state.ramp_to_c)
                or (state.ramp_c_per_min < 0 and target <= state.ramp_to_c)
            ):
                target = state.ramp_to_c
                state.ramp_c_per_min = 0.0
            state.temperature_c = target
        state.heartbeat_phase_s += dt
        ticks = int(state.heartbeat_phase_s)
        state.heartbeat_phase_s -= ticks
        if not state.heartbeat_frozen:
            state.heartbeat = (state.heartbeat + ticks) % HEARTBEAT_MODULUS
        if self._drift:
            rng = self._rng
            state.temperature_noise = _ou_step(state.temperature_noise, _TEMPERATURE_NOISE, dt, rng)
            state.obscuration_noise = _ou_step(state.obscuration_noise, _OBSCURATION_NOISE, dt, rng)
            state.battery_noise = _ou_step(state.battery_noise, _BATTERY_NOISE, dt, rng)

    def _devices(self) -> list[SimDevice]:
        devices = [
            SimDevice(
                id=unit,
                simdata=[
                    SimData(
                        FIRST_REGISTER,
                        values=[0] * REGISTER_COUNT,
                        datatype=DataType.REGISTERS,
                        readonly=True,
                    )
                ],
                action=functools.partial(self._serve, unit),
            )
            for unit in self._units
        ]
        # Unit 0 is pymodbus's catch-all: it makes every other unit id silent, as
        # on a real line, instead of a "device failure" exception from the server.
        devices.append(
            SimDevice(
                id=0,
                simdata=[SimData(0, count=256, datatype=DataType.REGISTERS)],
                action=self._silent,
            )
        )
        return devices

    async def _serve(  # noqa: PLR0917 - pymodbus passes an action's arguments by position
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus calls this for every request to ``unit``; it fills the registers
        from the model, or plays the failure the test asked for."""
        with self._lock:
            state = self._units[unit]
            if not state.responding:
                # With ignore_missing_devices the server then sends nothing at all.
                raise NoSuchIdException(f"unit {unit} is silenced by the simulator")
            if state.exception_code is not None:
                return state.exception_code
            words = encode_registers(state.reading(), device_type=state.device_type)
            state.reads += 1
        offset = FIRST_REGISTER - start_address
        registers[offset : offset + REGISTER_COUNT] = words
        return None

    async def _silent(self, *_args: object) -> ExcCodes | None:
        raise NoSuchIdException("no such unit on this line")

    def _trace_pdu(self, sending: bool, pdu: Any) -> Any:
        """Shorten outgoing register answers of units asked to answer short."""
        if not sending or not getattr(pdu, "registers", None):
            return pdu
        with self._lock:
            state = self._units.get(pdu.dev_id)
            missing = state.drop_registers if state is not None else 0
        if missing:
            pdu.registers = pdu.registers[: max(0, len(pdu.registers) - missing)]
        return pdu

    def _start(self, make: Callable[[], Coroutine[Any, Any, _Server]]) -> _Server:
        loop = self._ensure_loop()
        started = asyncio.run_coroutine_threadsafe(make(), loop).result(timeout=10)
        self._servers.append(started)
        log.info("fire detector simulator: units %s on %s", list(self._units), started.description)
        return started

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fire-detector-sim", daemon=True)
        self._thread.start()
        ready.wait(timeout=10)
        self._loop = loop
        if self._tick_s is not None:
            self._ticker = asyncio.run_coroutine_threadsafe(self._start_ticker(), loop).result(
                timeout=10
            )
        return loop

    async def _start_ticker(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        assert self._tick_s is not None
        last = time.monotonic()
        while True:
            await asyncio.sleep(self._tick_s)
            now = time.monotonic()
            self.advance(now - last)
            last = now

    async def _shutdown(self) -> None:
        for started in self._servers:
            await started.server.shutdown()
        self._servers.clear()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*pending, return_exceptions=True)
        # Let transports run their close callbacks before the loop stops.
        for _ in range(3):
            await asyncio.sleep(0)


# Labels as installers program them in old Shanghai compounds: floor, place, type.
DEMO_LABELS = (
    "1F 大堂 感烟",
    "2F 走廊 感烟",
    "3F 走廊 感烟",
    "3F 走廊 感温",
    "4F 楼梯间 感烟",
    "5F 301室 厨房 感温",
    "地下室 配电间 感烟",
    "社区食堂 后厨 感温",
    "消防泵房 水流指示器",
    "B1 车库 手报按钮",
)

_NOISE_BYTES = [b for b in range(256) if b not in b"\r\n"]

# Lines panels print that are not events.
NOISE_LINES = (
    "",
    "\f",
    "-" * 60,
    "DATE       TIME     EVENT          ZONE DEVICE  LABEL",
    "SYSTEM NORMAL",
    "\x1b@",
)


class PanelPrinterSimulator:
    """A fire alarm panel's printer port.

    Args:
        write: Where the bytes go: a :class:`~firmware_bridge.fire.pty_link.PtyPort`'s
            ``write``, or an open serial port's ``write`` (see :meth:`on_port`).
        encoding: Text encoding of the panel (GB18030 for most Chinese panels).
        line_ending: Bytes that end each line.
        seed: Seed for :meth:`print_random` and :meth:`print_garbage`.
        clock: The panel's clock (naive local time).
    """

    def __init__(
        self,
        write: Callable[[bytes], object],
        *,
        encoding: str = "gb18030",
        line_ending: bytes = b"\r\n",
        seed: int | None = None,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self._write = write
        self.encoding = encoding
        self.line_ending = line_ending
        self._rng = random.Random(seed)
        self._clock = clock
        self._sequence = 0
        self._closer: Callable[[], object] | None = None

    @classmethod
    def on_port(cls, url: str, *, baudrate: int = 9600, **kwargs: Any) -> PanelPrinterSimulator:
        """A printer simulator writing to a serial port opened with pyserial
        (close it with :meth:`close`).

        Args:
            url: Device path or pyserial URL.
            baudrate: Line speed.
            **kwargs: Passed on to :class:`PanelPrinterSimulator`.
        """
        import serial  # noqa: PLC0415 - only this constructor needs pyserial

        port = serial.serial_for_url(url, baudrate=baudrate)
        printer = cls(port.write, **kwargs)
        printer._closer = port.close
        return printer

    def close(self) -> None:
        """Close the port opened by :meth:`on_port` (nothing otherwise)."""
        if self._closer is not None:
            self._closer()
            self._closer = None

    def print_text(self, text: str) -> None:
        """Print one line of text as the panel would (encoded, line ending added)."""
        self._write(text.encode(self.encoding, errors="replace") + self.line_ending)

    def print_event(
        self,
        kind: PanelEventKind,
        *,
        zone: int | None = None,
        device: DeviceAddress | None = None,
        label: str = "",
        restored_kind: PanelEventKind | None = None,
        at: datetime | None = None,
    ) -> PanelEvent:
        """Print an event line.

        Returns:
            The event as the parser should read it back (``text`` and
            ``received_at`` left empty).
        """
        self._sequence += 1
        event = PanelEvent(
            kind=kind,
            printed_at=(at or self._clock()).replace(microsecond=0),
            zone=zone,
            device=device,
            label=" ".join(label.split()),
            restored_kind=restored_kind,
            sequence=self._sequence,
        )
        self.print_text(format_line(event))
        return event

    def print_header(self) -> None:
        """What a panel prints when the printer comes on line."""
        self._write(b"\x1b@")  # ESC @: initialise the printer
        self.print_text("=" * 60)
        self.print_text("GST200 火灾报警控制器  FIRE ALARM CONTROL PANEL")
        self.print_text(f"EVENT LOG  {self._clock():%Y-%m-%d %H:%M}")
        self.print_text("DATE       TIME     EVENT          ZONE DEVICE  LABEL")
        self.print_text("-" * 60)

    def print_noise(self) -> None:
        """One line that is not an event (blank, page feed, rule, status…)."""
        self.print_text(self._rng.choice(NOISE_LINES))

    def print_garbage(self, length: int = 24) -> bytes:
        """A line of line noise (what a wrong baud rate or a spike looks like).

        Returns:
            The bytes written before the line ending.
        """
        # Any byte but a line ending: a wrong baud rate or a spike produces all sorts.
        noise = bytes(self._rng.choice(_NOISE_BYTES) for _ in range(length))
        self._write(noise + self.line_ending)
        return noise

    def print_random(self, count: int, *, noise: float = 0.2) -> list[PanelEvent]:
        """Print ``count`` plausible events, with non-event lines mixed in.

        Args:
            count: Events to print.
            noise: Chance of a non-event line before each event.

        Returns:
            The events printed, in order.
        """
        events = []
        active: list[tuple[PanelEventKind, int, DeviceAddress, str]] = []
        for _ in range(count):
            if self._rng.random() < noise:
                self.print_noise()
            if active and self._rng.random() < 0.4:
                kind, zone, device, label = active.pop(self._rng.randrange(len(active)))
                events.append(
                    self.print_event(
                        PanelEventKind.RESTORE,
                        zone=zone,
                        device=device,
                        label=label,
                        restored_kind=kind,
                    )
                )
                continue
            kind = self._rng.choice(
                (PanelEventKind.ALARM, PanelEventKind.TROUBLE, PanelEventKind.SUPERVISORY)
            )
            index = self._rng.randrange(len(DEMO_LABELS))
            zone, device = index + 1, DeviceAddress(1 + index // 5, 1 + index * 7)
            active.append((kind, zone, device, DEMO_LABELS[index]))
            events.append(
                self.print_event(kind, zone=zone, device=device, label=DEMO_LABELS[index])
            )
        return events
