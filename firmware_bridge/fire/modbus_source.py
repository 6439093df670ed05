"""Poll smoke/heat detectors over Modbus TCP or Modbus RTU, one result per detector
per poll: a :class:`~firmware_bridge.fire.modbus_map.DetectorReading` or a
:class:`DetectorProblem`.

Why pymodbus's *sync* clients, one per link, driven from the caller's thread:

* A link is strictly one request at a time: RS-485 is half-duplex, and the TCP
  gateways in front of RS-485 lines serialise requests anyway. asyncio would add an
  event loop to the edge agent (which is thread-based) without polling any faster.
* The sync client has no background reconnect task: whether and when to reconnect
  is decided here, once per poll, and is visible in the counters.
* Each request is bounded by the client's timeout (socket ``select`` / serial read
  timeout), so a silent detector costs one timeout and the next one is polled.

Several links (a TCP gateway per building, an RS-485 line in the fire station) are
several sources, each iterated in its own thread: a dead gateway only slows its own
detectors.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from firmware_bridge.fire.counters import Tally
from firmware_bridge.fire.errors import RegisterDecodeError, RegisterDecodeReason
from firmware_bridge.fire.modbus_map import (
    FIRST_REGISTER,
    REGISTER_COUNT,
    DetectorReading,
    decode_registers,
)

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")

# Exception codes a TCP-to-RTU gateway answers with when the detector behind it is
# silent: for us that is the detector not answering, not the detector refusing.
_GATEWAY_NO_ANSWER = frozenset({0x0A, 0x0B})


@dataclass(frozen=True, slots=True)
class Detector:
    """One detector on a link.

    Attributes:
        detector_id: Stable name used in events, same shape as the wire contract's
            identifiers (``[A-Za-z0-9_.:-]``, 1-64 characters).
        unit: Modbus unit id (slave address) 1..247.
    """

    detector_id: str
    unit: int

    def __post_init__(self) -> None:
        if not _IDENT.match(self.detector_id):
            raise ValueError(f"detector_id {self.detector_id!r} is not [A-Za-z0-9_.:-]{{1,64}}")
        if not 1 <= self.unit <= 247:
            raise ValueError(f"unit {self.unit} is not a Modbus unit id 1..247")


@dataclass(frozen=True, slots=True)
class ModbusTcpLink:
    """Modbus TCP: a detector with Ethernet, or a TCP gateway in front of an RS-485 line."""

    host: str
    port: int = 502

    def __str__(self) -> str:
        return f"tcp:{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ModbusRtuLink:
    """Modbus RTU on a serial line (RS-485 adapter).

    Attributes:
        port: Device path (``/dev/ttyUSB0``, a ``/dev/serial/by-id/...`` link, a pty)
            or any pyserial URL.
        baudrate: Line speed; our detectors ship at 9600.
        parity: ``"N"``, ``"E"`` or ``"O"`` (the Modbus spec's default is even parity;
            our detectors ship with none).
        bytesize: Data bits.
        stopbits: Stop bits.
    """

    port: str
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    bytesize: Literal[7, 8] = 8
    stopbits: Literal[1, 2] = 1

    def __str__(self) -> str:
        return f"rtu:{self.port}"


ModbusLink = ModbusTcpLink | ModbusRtuLink


class RegisterKind(StrEnum):
    """Which Modbus table the map is read from."""

    INPUT = "input"  # function 04, the map's home
    HOLDING = "holding"  # function 03, for firmware that only implements that


class ProblemReason(StrEnum):
    """Why a poll of one detector gave no reading."""

    NO_CONNECTION = "no_connection"
    """The link is down (TCP connect failed, serial port missing); nothing was sent."""
    NO_RESPONSE = "no_response"
    """Request sent, no answer within the timeout (or a gateway said the unit is
    silent): communication with this detector is lost."""
    EXCEPTION_RESPONSE = "exception_response"
    """The detector answered with a Modbus exception (``exception_code`` says which)."""
    MALFORMED_RESPONSE = "malformed_response"
    """An answer arrived but is not the one asked for (short, wrong unit, unreadable)."""
    DECODE_ERROR = "decode_error"
    """The words arrived but are not a valid reading (``decode_reason`` says why)."""


@dataclass(frozen=True, slots=True)
class DetectorProblem:
    """A poll of one detector that produced no reading.

    Attributes:
        reason: What went wrong, counted by :class:`PollCounters`.
        detail: Human-readable explanation for logs.
        exception_code: The Modbus exception code, for ``exception_response`` and for
            gateway answers counted as ``no_response``.
        decode_reason: The decoder's reason, for ``decode_error``.
    """

    reason: ProblemReason
    detail: str
    exception_code: int | None = None
    decode_reason: RegisterDecodeReason | None = None


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """The outcome of polling one detector once.

    Attributes:
        detector: Which detector.
        polled_at: When the request was sent (UTC), for records.
        monotonic_s: ``time.monotonic()`` when the request was sent, for intervals
            (rate of rise): unlike ``polled_at`` it never jumps with the clock.
        outcome: The reading, or why there is none.
        consecutive_problems: Problems in a row for this detector including this one;
            0 when ``outcome`` is a reading.
    """

    detector: Detector
    polled_at: datetime
    monotonic_s: float
    outcome: DetectorReading | DetectorProblem
    consecutive_problems: int

    @property
    def reading(self) -> DetectorReading | None:
        """The reading, or None if the poll failed."""
        return self.outcome if isinstance(self.outcome, DetectorReading) else None

    @property
    def problem(self) -> DetectorProblem | None:
        """The problem, or None if the poll gave a reading."""
        return self.outcome if isinstance(self.outcome, DetectorProblem) else None


class PollCounters:
    """What a source has seen since it was made; safe to read from any thread.

    Attributes:
        problems: Problems by reason.
    """

    def __init__(self) -> None:
        self.problems: Tally[ProblemReason] = Tally()
        self._other: Tally[str] = Tally()

    @property
    def polls(self) -> int:
        """Completed passes over all detectors."""
        return self._other["polls"]

    @property
    def readings(self) -> int:
        """Detector polls that gave a reading."""
        return self._other["readings"]

    @property
    def connects(self) -> int:
        """Successful (re)connections of the link."""
        return self._other["connects"]

    def count(self, what: Literal["polls", "readings", "connects"]) -> None:
        """Count one more poll, reading or connection."""
        self._other.add(what)

    def snapshot(self) -> dict[str, int]:
        """All counts, problems as ``problem.<reason>``: for metrics and logs."""
        counts = {"polls": self.polls, "readings": self.readings, "connects": self.connects}
        for reason, n in self.problems.snapshot().items():
            counts[f"problem.{reason}"] = n
        return counts


class DetectorSource(Protocol):
    """Something that polls detectors: what the edge agent's fire state machines use."""

    @property
    def detectors(self) -> Sequence[Detector]:
        """The detectors, in poll order."""
        ...

    @property
    def counters(self) -> PollCounters:
        """Counts of polls, readings and problems by reason."""
        ...

    def poll_once(self) -> list[DetectorResult]:
        """Poll every detector once; never raises."""
        ...

    def polls(self, stop: threading.Event) -> Iterator[list[DetectorResult]]:
        """Poll at the source's interval until ``stop`` is set; never raises."""
        ...

    def close(self) -> None:
        """Release the link."""
        ...


def _make_client(link: ModbusLink, *, timeout_s: float, retries: int) -> Any:
    if isinstance(link, ModbusTcpLink):
        return ModbusTcpClient(
            link.host, port=link.port, timeout=timeout_s, retries=retries, name=str(link)
        )
    return ModbusSerialClient(
        link.port,
        baudrate=link.baudrate,
        parity=link.parity,
        bytesize=link.bytesize,
        stopbits=link.stopbits,
        timeout=timeout_s,
        retries=retries,
        name=str(link),
    )


class ModbusDetectorSource:
    """Polls the detectors of one Modbus link (see the module docstring for why sync).

    One pass sends one read per detector, in order. A detector that does not answer
    costs ``timeout_s * (retries + 1)`` and gets a ``no_response`` result; the others
    are polled as usual. If the link itself is down, it is reconnected at most once
    per pass and the remaining detectors get ``no_connection`` without waiting.

    Use from one thread at a time; :attr:`counters` may be read from any thread.

    Args:
        link: Where the detectors are.
        detectors: The detectors on that link (unique units and ids).
        poll_interval_s: Time from the start of one pass to the start of the next.
            A pass that takes longer starts the next one at once (no burst to catch up).
        timeout_s: Per-request (and TCP connect) timeout.
        retries: Extra attempts per request after a timeout. The default 0 leaves
            the judgement of a missed answer to the state machine
            (``consecutive_problems``) and keeps a pass short.
        register_kind: Read the map as input (default) or holding registers.
        name: For logs; defaults to the link (``tcp:host:port`` / ``rtu:/dev/...``).
    """

    def __init__(
        self,
        link: ModbusLink,
        detectors: Sequence[Detector],
        *,
        poll_interval_s: float = 2.0,
        timeout_s: float = 0.5,
        retries: int = 0,
        register_kind: RegisterKind = RegisterKind.INPUT,
        name: str | None = None,
    ) -> None:
        if not detectors:
            raise ValueError("a detector source needs at least one detector")
        if len({d.unit for d in detectors}) != len(detectors):
            raise ValueError("two detectors share a unit id on one link")
        if len({d.detector_id for d in detectors}) != len(detectors):
            raise ValueError("two detectors share a detector_id")
        if poll_interval_s <= 0 or timeout_s <= 0 or retries < 0:
            raise ValueError("poll_interval_s and timeout_s must be > 0, retries >= 0")
        self.link = link
        self.name = name or str(link)
        self.poll_interval_s = poll_interval_s
        self.timeout_s = timeout_s
        self._detectors = tuple(detectors)
        self._register_kind = register_kind
        self._client = _make_client(link, timeout_s=timeout_s, retries=retries)
        self._counters = PollCounters()
        self._consecutive: dict[int, int] = dict.fromkeys((d.unit for d in detectors), 0)
        # Last problem reason per unit (None: last poll was fine), so that logs say
        # when something changes instead of repeating every pass.
        self._last_reason: dict[int, ProblemReason | None] = dict.fromkeys(
            (d.unit for d in detectors), None
        )
        self._link_up: bool | None = None  # None until the first connection attempt

    @property
    def detectors(self) -> Sequence[Detector]:
        """The detectors, in poll order."""
        return self._detectors

    @property
    def counters(self) -> PollCounters:
        """Counts of polls, readings, connections and problems by reason."""
        return self._counters

    def poll_once(self) -> list[DetectorResult]:
        """Poll every detector once, in order.

        Returns:
            One result per detector, in :attr:`detectors` order. Never raises.
        """
        results: list[DetectorResult] = []
        link_down: str | None = None
        for detector in self._detectors:
            polled_at = datetime.now(UTC)
            started = time.monotonic()
            if link_down is None:
                link_down = self._connect()
            if link_down is not None:
                outcome: DetectorReading | DetectorProblem = DetectorProblem(
                    ProblemReason.NO_CONNECTION, link_down
                )
            else:
                outcome = self._poll_detector(detector)
                if isinstance(outcome, DetectorProblem) and outcome.reason is (
                    ProblemReason.NO_CONNECTION
                ):
                    link_down = outcome.detail
            results.append(self._record(detector, polled_at, started, outcome))
        self._counters.count("polls")
        return results

    def polls(self, stop: threading.Event) -> Iterator[list[DetectorResult]]:
        """Poll every ``poll_interval_s`` until ``stop`` is set.

        Args:
            stop: Set it (from any thread) to end the iteration after the current pass.

        Yields:
            The results of each pass (see :meth:`poll_once`). Never raises.
        """
        next_start = time.monotonic()
        while not stop.is_set():
            yield self.poll_once()
            next_start += self.poll_interval_s
            now = time.monotonic()
            next_start = max(next_start, now)  # overran: start now, no catching up
            if stop.wait(next_start - now):
                return

    def close(self) -> None:
        """Close the connection or serial port (a later poll reopens it)."""
        self._client.close()
        self._link_up = None  # closed on purpose: the next attempt's outcome is news

    def __enter__(self) -> ModbusDetectorSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connect(self) -> str | None:
        """Make sure the link is up; returns why not, or None when it is."""
        if self._client.connected:
            return None
        try:
            ok = bool(self._client.connect())
        except Exception as exc:  # noqa: BLE001 - pyserial raises undocumented types (termios…)
            ok, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = f"cannot connect to {self.link}"
        if not ok:
            if self._link_up is not False:
                log.warning("%s: link down: %s", self.name, why)
            self._link_up = False
            return why
        self._counters.count("connects")
        if self._link_up is not True:
            log.info("%s: link up", self.name)
        self._link_up = True
        return None

    def _read(self, unit: int) -> Any:
        if self._register_kind is RegisterKind.INPUT:
            return self._client.read_input_registers(
                FIRST_REGISTER, count=REGISTER_COUNT, device_id=unit
            )
        return self._client.read_holding_registers(
            FIRST_REGISTER, count=REGISTER_COUNT, device_id=unit
        )

    def _poll_detector(self, detector: Detector) -> DetectorReading | DetectorProblem:
        for attempt in (1, 2):
            try:
                response = self._read(detector.unit)
            except ConnectionException as exc:
                # The socket or port went away under us (gateway restarted, adapter
                # unplugged). Reconnect once and ask again, so that one stale socket
                # does not cost this detector a poll.
                self._client.close()
                self._link_up = False
                if attempt == 2 or self._connect() is not None:
                    return DetectorProblem(ProblemReason.NO_CONNECTION, f"connection lost: {exc}")
                continue
            except ModbusIOException as exc:
                # pymodbus signals "no answer" only through the message; a test pins it.
                if "No response received" in str(exc):
                    return DetectorProblem(ProblemReason.NO_RESPONSE, f"no answer: {exc}")
                return DetectorProblem(ProblemReason.MALFORMED_RESPONSE, str(exc))
            except ModbusException as exc:
                return DetectorProblem(ProblemReason.MALFORMED_RESPONSE, str(exc))
            except Exception as exc:  # one broken frame must not stop the loop
                log.exception("%s: unit %d: unexpected error", self.name, detector.unit)
                return DetectorProblem(
                    ProblemReason.MALFORMED_RESPONSE, f"{type(exc).__name__}: {exc}"
                )
            return self._interpret(response)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _interpret(response: Any) -> DetectorReading | DetectorProblem:
        if response.isError():
            code = getattr(response, "exception_code", None)
            if code in _GATEWAY_NO_ANSWER:
                return DetectorProblem(
                    ProblemReason.NO_RESPONSE, f"gateway: unit silent (0x{code:02X})", code
                )
            return DetectorProblem(
                ProblemReason.EXCEPTION_RESPONSE, f"exception response {code}", code
            )
        words = getattr(response, "registers", None)
        if not isinstance(words, list) or len(words) != REGISTER_COUNT:
            count = len(words) if isinstance(words, list) else None
            return DetectorProblem(
                ProblemReason.MALFORMED_RESPONSE,
                f"{count} registers in answer, expected {REGISTER_COUNT}",
            )
        try:
            return decode_registers(words)
        except RegisterDecodeError as exc:
            return DetectorProblem(ProblemReason.DECODE_ERROR, exc.detail, decode_reason=exc.reason)

    def _record(
        self,
        detector: Detector,
        polled_at: datetime,
        started: float,
        outcome: DetectorReading | DetectorProblem,
    ) -> DetectorResult:
        unit = detector.unit
        if isinstance(outcome, DetectorProblem):
            self._counters.problems.add(outcome.reason)
            self._consecutive[unit] += 1
            if self._last_reason[unit] is not outcome.reason:
                log.warning(
                    "%s: %s (unit %d): %s: %s",
                    self.name,
                    detector.detector_id,
                    unit,
                    outcome.reason,
                    outcome.detail,
                )
            self._last_reason[unit] = outcome.reason
        else:
            self._counters.count("readings")
            self._consecutive[unit] = 0
            if self._last_reason[unit] is not None:
                log.info("%s: %s (unit %d): answering again", self.name, detector.detector_id, unit)
            self._last_reason[unit] = None
        return DetectorResult(
            detector=detector,
            polled_at=polled_at,
            monotonic_s=started,
            outcome=outcome,
            consecutive_problems=self._consecutive[unit],
        )
