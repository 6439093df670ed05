"""Live advertisements from a Linux/BlueZ radio through bleak, as an
:class:`AdvertisementSource`, with a watchdog that restarts a scanner gone quiet.

bleak is an optional extra (``tianshan[ble]``): it is imported only when a source is
built without a ``scanner_class``, so everything else in this package works without it.

What BlueZ gives is not the raw payload. It parses advertisements into D-Bus device
properties (``ManufacturerData``, ``ServiceData``, ``TxPower``…) and bleak hands those on,
merged per device: the detection callback of an advertisement carrying frame A also
carries the last frame B that device sent. :func:`ad_structures_from_bleak` rebuilds AD
structures from the parsed fields, and with ``drop_repeats`` (default) the source passes
on only the structures that changed since that device's previous callback; a callback in
which nothing changed still yields a record with empty ``data``, because the device was
heard (its RSSI is fresh). The stud frame's sequence number changes with every frame,
so stud frames are never taken for repeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol

from firmware_bridge.ble.ad import (
    AD_MANUFACTURER_DATA,
    AD_SERVICE_DATA_16,
    AD_SERVICE_DATA_32,
    AD_SERVICE_DATA_128,
    AD_TX_POWER,
    ad_structure,
)
from firmware_bridge.ble.source import AdvertisementRecord

log = logging.getLogger(__name__)

OrPattern = tuple[int, int, bytes]
"""A BlueZ advertisement-monitor pattern: start position in the AD data, AD type, bytes."""

DEFAULT_OR_PATTERNS: tuple[OrPattern, ...] = (
    (0, AD_MANUFACTURER_DATA, b"\xff\xff"),  # our studs, company id 0xFFFF
    (0, AD_MANUFACTURER_DATA, b"\x4c\x00\x02\x15"),  # iBeacon
    (0, AD_SERVICE_DATA_16, b"\xaa\xfe"),  # Eddystone
)
"""What passive scanning asks BlueZ to report (it needs patterns to scan passively)."""

MAX_RESTART_DELAY = 60.0
"""Longest wait between attempts to start a scanner that keeps failing, seconds."""

_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"
_SEEN_ADDRESSES_MAX = 4096  # phones rotate random addresses: keep the memory bounded


class _Scanner(Protocol):
    """What we use of a ``bleak.BleakScanner`` (and what a fake must provide)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Device(Protocol):
    @property
    def address(self) -> str: ...


class _AdvertisementData(Protocol):
    @property
    def manufacturer_data(self) -> Mapping[int, bytes]: ...

    @property
    def service_data(self) -> Mapping[str, bytes]: ...

    @property
    def tx_power(self) -> int | None: ...

    @property
    def rssi(self) -> int: ...


def _service_data_structure(uuid: str, payload: bytes) -> bytes:
    uuid = uuid.lower()
    if uuid.endswith(_BASE_UUID_TAIL) and uuid.startswith("0000"):
        return ad_structure(AD_SERVICE_DATA_16, int(uuid[4:8], 16).to_bytes(2, "little") + payload)
    if uuid.endswith(_BASE_UUID_TAIL):
        return ad_structure(AD_SERVICE_DATA_32, int(uuid[:8], 16).to_bytes(4, "little") + payload)
    raw = bytes.fromhex(uuid.replace("-", ""))
    return ad_structure(AD_SERVICE_DATA_128, raw[::-1] + payload)  # UUIDs go little-endian


def ad_structures_from_bleak(
    manufacturer_data: Mapping[int, bytes],
    service_data: Mapping[str, bytes],
    tx_power: int | None = None,
) -> list[tuple[str, bytes]]:
    """Rebuild AD structures from bleak's parsed advertisement fields, each with a key
    naming its field (``m:<company>``, ``s:<uuid>``, ``tx``). Fields too long for one AD
    structure (impossible in a real advertisement) and unparsable UUIDs are left out."""
    out: list[tuple[str, bytes]] = []
    for company, payload in manufacturer_data.items():
        if 0 <= company <= 0xFFFF and len(payload) <= 252:
            structure = ad_structure(AD_MANUFACTURER_DATA, company.to_bytes(2, "little") + payload)
            out.append((f"m:{company:04x}", structure))
    for uuid, payload in service_data.items():
        try:
            out.append((f"s:{uuid.lower()}", _service_data_structure(uuid, payload)))
        except ValueError:
            continue
    if tx_power is not None and -128 <= tx_power <= 127:
        out.append(("tx", ad_structure(AD_TX_POWER, tx_power.to_bytes(1, "little", signed=True))))
    return out


class BleakScannerSource:
    """Passive BLE scanning through bleak, the detection callback feeding a queue that
    :meth:`records` drains in the caller's thread.

    The scanner runs in an asyncio loop of its own thread. A watchdog restarts it (stop,
    then a new scanner) when no advertisement has arrived for ``silence_timeout`` seconds:
    BlueZ is known to stop reporting silently after long scans. Set the timeout to many
    advertising intervals of the studs (they send every second), so a quiet street does
    not look like a stuck scanner.

    ``scanning_mode="auto"`` scans passively (no scan requests: the studs' batteries do
    not answer them) where BlueZ supports it (advertisement monitors; BlueZ ≥ 5.56 with
    experimental features on older releases) and falls back to active scanning when a
    passive start fails but an active one works.

    A scanner that fails to start is retried after ``restart_delay`` seconds, doubling
    while it keeps failing, up to :data:`MAX_RESTART_DELAY`.

    ``scanner_class`` builds the scanner (default ``bleak.BleakScanner``); it is called
    with ``detection_callback=``, ``scanning_mode=`` and ``bluez=`` keywords.

    Counters: ``records``, ``restarts`` (watchdog), ``start_failures``,
    ``stop_failures``, ``fallbacks_to_active``, ``dropped`` (queue full: the consumer is
    too slow), ``repeats_dropped`` (AD structures left out by ``drop_repeats``),
    ``passive`` (1 while scanning passively)."""

    def __init__(
        self,
        *,
        scanner_class: Callable[..., _Scanner] | None = None,
        adapter: str | None = None,
        scanning_mode: Literal["auto", "passive", "active"] = "auto",
        or_patterns: Sequence[OrPattern] = DEFAULT_OR_PATTERNS,
        silence_timeout: float = 30.0,
        restart_delay: float = 2.0,
        queue_size: int = 10_000,
        drop_repeats: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if silence_timeout <= 0:
            raise ValueError("silence_timeout must be positive")
        if scanner_class is None:
            try:
                from bleak import BleakScanner  # noqa: PLC0415 - optional extra, see module doc
            except ImportError as exc:
                raise ImportError("BLE scanning needs bleak: pip install 'tianshan[ble]'") from exc
            scanner_class = BleakScanner
        self._scanner_class: Callable[..., _Scanner] = scanner_class
        self._adapter = adapter
        self._mode = scanning_mode
        self._or_patterns = list(or_patterns)
        self._silence_timeout = silence_timeout
        self._restart_delay = restart_delay
        self._drop_repeats = drop_repeats
        self._clock = clock
        self._queue: queue.Queue[AdvertisementRecord] = queue.Queue(maxsize=queue_size)
        self._seen: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        self._last_heard = time.monotonic()
        self._closing = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "records",
                "restarts",
                "start_failures",
                "stop_failures",
                "fallbacks_to_active",
                "dropped",
                "repeats_dropped",
                "passive",
            ),
            0,
        )

    # -- consumer side ----------------------------------------------------------------

    def start(self) -> None:
        """Start scanning (idempotent; :meth:`records` calls it)."""
        with self._start_lock:
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(target=self._run, name="ble-scanner", daemon=True)
                self._thread.start()

    def records(self) -> Iterator[AdvertisementRecord]:
        """Advertisements as they arrive, until :meth:`close`."""
        self.start()
        get = self._queue.get
        while not self._closing.is_set():
            try:
                record = get(timeout=0.2)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive():
                    return  # the scanner thread died; it logged why
                continue
            yield record

    def counters(self) -> dict[str, int]:
        """A snapshot of the counters named in the class doc."""
        return dict(self._counts)

    def horizon(self) -> None:
        """Always ``None``: a radio's next advertisement is not known before it comes."""

    def close(self, timeout: float = 10.0) -> None:
        """Stop the scanner and its thread (waits up to ``timeout`` seconds)."""
        self._closing.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop may have finished already
                loop.call_soon_threadsafe(wake.set)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- scanner thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("BLE scanner thread failed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._closing.is_set():  # closed before the loop existed to be woken
            return
        passive = self._mode != "active"
        failures = 0
        while not self._closing.is_set():
            scanner = await self._start_scanner(passive)
            if scanner is None and passive and self._mode == "auto":
                scanner = await self._start_scanner(False)
                if scanner is not None:
                    self._counts["fallbacks_to_active"] += 1
                    log.warning("passive BLE scanning failed to start; scanning actively")
                    passive = False
            if scanner is None:
                # Back off while the adapter stays unusable (unplugged, BlueZ down): a
                # retry every restart_delay at first, at most every MAX_RESTART_DELAY.
                failures += 1
                await self._pause(min(self._restart_delay * 2 ** (failures - 1), MAX_RESTART_DELAY))
                continue
            failures = 0
            self._counts["passive"] = int(passive)
            self._last_heard = time.monotonic()
            try:
                went_silent = await self._watch()
            finally:
                try:
                    await scanner.stop()
                except Exception as exc:  # noqa: BLE001 - a dead scanner may fail any way
                    self._counts["stop_failures"] += 1
                    log.warning("stopping the BLE scanner failed: %r", exc)
            if went_silent:
                self._counts["restarts"] += 1
                log.warning(
                    "no advertisement for %.0f s: restarting the BLE scanner (restart %d)",
                    self._silence_timeout,
                    self._counts["restarts"],
                )

    async def _start_scanner(self, passive: bool) -> _Scanner | None:
        bluez: dict[str, Any] = {}
        if self._adapter is not None:
            bluez["adapter"] = self._adapter
        if passive:
            bluez["or_patterns"] = self._or_patterns
        try:
            scanner = self._scanner_class(
                detection_callback=self._on_advertisement,
                scanning_mode="passive" if passive else "active",
                bluez=bluez,
            )
            await scanner.start()
        except Exception as exc:  # noqa: BLE001 - bleak and D-Bus raise many kinds; all retried
            self._counts["start_failures"] += 1
            log.warning(
                "starting the BLE scanner (%s) failed: %r", "passive" if passive else "active", exc
            )
            return None
        return scanner

    async def _watch(self) -> bool:
        """Wait until closed (False) or silent for ``silence_timeout`` (True)."""
        assert self._wake is not None
        while not self._closing.is_set():
            remaining = self._last_heard + self._silence_timeout - time.monotonic()
            if remaining <= 0:
                return True
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                continue
        return False

    async def _pause(self, seconds: float) -> None:
        assert self._wake is not None
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _on_advertisement(self, device: _Device, adv: _AdvertisementData) -> None:
        """bleak's detection callback, in the scanner thread: keep it short."""
        self._last_heard = time.monotonic()
        structures = ad_structures_from_bleak(adv.manufacturer_data, adv.service_data, adv.tx_power)
        address = device.address.upper()
        if self._drop_repeats:
            last = self._seen.get(address)
            if last is None:
                last = self._seen[address] = {}
                if len(self._seen) > _SEEN_ADDRESSES_MAX:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(address)
            fresh = [s for key, s in structures if last.get(key) != s]
            self._counts["repeats_dropped"] += len(structures) - len(fresh)
            last.update(structures)
            data = b"".join(fresh)
        else:
            data = b"".join(s for _, s in structures)
        try:
            self._queue.put_nowait(AdvertisementRecord(self._clock(), address, adv.rssi, data))
        except queue.Full:
            self._counts["dropped"] += 1
            return
        self._counts["records"] += 1
