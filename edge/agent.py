"""The edge agent: pipelines hand it readings and events; it batches, stores, publishes.

Threads: producers call :meth:`EdgeAgent.add_readings` / :meth:`EdgeAgent.send_event`
from anywhere; paho's network thread only drops notes into a queue; one *pump* thread
owns the flow: flush due telemetry into the outbox, send heartbeats, publish from the
outbox within the in-flight window, delete what the broker acknowledged, rewind on
disconnect, apply pushed config.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from edge.backoff import Backoff
from edge.batcher import TelemetryBatcher
from edge.config import AgentConfig
from edge.outbox import Entry, Lane, Outbox
from edge.remote_config import AppliedConfig, ConfigRejected, ConfigStore, RemoteSettings, validate
from edge.store_failures import StoreFailures
from edge.transport import MqttTransport, TransportHooks, Will
from wire import (
    Channel,
    ConfigAck,
    DeviceConfig,
    Event,
    OutboxStats,
    PayloadTooLarge,
    Reading,
    Severity,
    State,
    Status,
    Telemetry,
    WireError,
    decode_as,
    device_topic,
    encode,
    new_message_id,
    now_us,
)

log = logging.getLogger(__name__)

# A PUBACK reason code at or above this is a refusal (MQTT v5 §2.4).
_REFUSED = 0x80
# "No matching subscribers": the broker accepted the message and threw it away. For
# us that is not delivered: nothing in the cloud has it. It happens while no ingest
# is subscribed, e.g. right after a Mosquitto 2.0 restart, which restores sessions
# but not their shared subscriptions. Such messages stay and are sent again later.
_NO_SUBSCRIBERS = 0x10
#: Seconds between two tries at storing telemetry after the outbox refused it.
STORE_AGAIN_S = 5.0
#: Readings kept in memory while the outbox refuses them (39 MB for 50,000 readings with
#: two tags, measured with tracemalloc); past it, the oldest go, as the outbox's own quota
#: drops its oldest telemetry, and are counted with its drops in the heartbeat.
MAX_WAITING_READINGS = 50_000


def software_version() -> str:
    try:
        return f"tianshan-edge/{version('tianshan')}"
    except PackageNotFoundError:
        return "tianshan-edge/unknown"


@dataclass(frozen=True, slots=True)
class _PubAck:
    mid: int
    reason: int
    name: str


@dataclass(frozen=True, slots=True)
class _Link:
    up: bool
    why: str = ""


@dataclass(frozen=True, slots=True)
class _ConfigPayload:
    payload: bytes


_Note = _PubAck | _Link | _ConfigPayload


class EdgeAgent:
    def __init__(self, config: AgentConfig, *, software: str | None = None) -> None:
        self.config = config
        self.device_id = config.device.id
        self.software = software or software_version()
        self.outbox = Outbox(config.outbox.path, quota_bytes=config.outbox.quota_bytes)
        self._topics = {c: device_topic(self.device_id, c) for c in Channel}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._notes: queue.SimpleQueue[_Note] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho mid → outbox id; pump thread only
        self._window = config.mqtt.publish_window
        self._held_until: float | None = None  # publishing paused: nobody subscribed
        self._hold_backoff = Backoff(1.0, 30.0)

        self._started = time.monotonic()
        self._next_heartbeat = self._started
        self._heartbeat_s = config.heartbeat.interval_s
        self.config_version: int | None = None
        self._rejected_version: int | None = None
        self._config_store = ConfigStore(config.state_dir)
        self._config_listeners: list[Callable[[RemoteSettings], None]] = []
        self.batcher = TelemetryBatcher(
            max_readings=config.telemetry.max_readings,
            max_age_s=config.telemetry.max_age_s,
            wake=self._wake.set,
        )
        self._store_again_at = 0.0  # no telemetry store before this (the outbox refused)
        self._telemetry_failures = StoreFailures("telemetry")
        self._heartbeat_failures = StoreFailures("heartbeat")
        applied = self._config_store.load()
        if applied is not None:
            self._apply(applied.settings)
            self.config_version = applied.version
            log.info("running stored config version %d", applied.version)

        self._session = new_message_id()
        self._session_since = now_us()
        self.transport = MqttTransport(
            config.mqtt,
            client_id=self.device_id,
            hooks=TransportHooks(
                connected=lambda: self._note(_Link(up=True)),
                disconnected=lambda why: self._note(_Link(up=False, why=why)),
                puback=lambda mid, rc, name: self._note(_PubAck(mid, rc, name)),
                message=self._on_message,
            ),
            will=self._next_will,
            subscriptions=((self._topics[Channel.CONFIG], 1),),
        )
        self._thread = threading.Thread(
            target=self._run, name=f"pump-{self.device_id}", daemon=True
        )

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self.transport.start()
        self._thread.start()

    def stop(self, *, timeout: float = 10.0) -> None:
        """Flush waiting readings into the outbox, publish what the window allows,
        say ``offline`` and disconnect. Whatever is unacknowledged stays stored."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)
        offline = Status(
            device_id=self.device_id,
            state="offline",
            session=self._session,
            since=self._session_since,
        )
        self.transport.stop(final=(self._topics[Channel.STATUS], encode(offline)))
        self.outbox.close()

    def drain(self, timeout: float) -> bool:
        """Wait until nothing is waiting in memory or in the outbox. For tests and the
        simulator; returns False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._wake.set()
            if len(self.batcher) == 0 and not any(self.outbox.counters().depth.values()):
                return True
            time.sleep(0.02)
        return False

    # -- producers -----------------------------------------------------------------

    def add_readings(self, readings: Iterable[Reading]) -> None:
        """Queue readings for batched telemetry (durable once flushed to the outbox)."""
        self.batcher.add(readings)

    def send_event(
        self,
        type_: str,
        *,
        severity: Severity = Severity.INFO,
        data: dict[str, object] | None = None,
        source: str | None = None,
        lane: Lane = Lane.ALARM,
        meta: Mapping[str, str] | None = None,
    ) -> Event:
        """Store one event durably in ``lane`` and publish it at once. Returns it.
        ``meta``: the caller's own key/values, stored atomically with the event (read
        back with ``outbox.meta``).

        Raises pydantic's ValidationError for a malformed event and
        :class:`wire.PayloadTooLarge` for one too big to send; nothing is stored then.
        """
        made: list[Event] = []

        def build(seq: int) -> tuple[str, bytes]:
            event = Event.model_validate(
                {
                    "device_id": self.device_id,
                    "seq": seq,
                    "type": type_,
                    "severity": severity,
                    "source": source,
                    "data": data or {},
                },
                strict=False,
            )
            made.append(event)
            return self._topics[Channel.EVENT], encode(event)

        self.outbox.put(Entry(lane, build), meta=meta)
        self._wake.set()
        return made[0]

    def on_config(self, listener: Callable[[RemoteSettings], None]) -> None:
        """Call ``listener`` with each config the box applies (pipelines use this)."""
        self._config_listeners.append(listener)

    # -- pump thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            try:
                self._handle_notes()
                self._flush_telemetry(force=stopping)
                if not stopping:
                    self._heartbeat_if_due()
                self._publish()
            except Exception:
                # The pump must outlive any one bad moment; what failed stays stored.
                log.exception("edge pump error; continuing")
            if stopping:
                return
            self._wake.wait(self._sleep_s())
            self._wake.clear()

    def _sleep_s(self) -> float:
        waits = [self._next_heartbeat - time.monotonic(), 0.5]
        if self._held_until is not None:
            waits.append(self._held_until - time.monotonic())
        due = self.batcher.due_in()
        if due is not None:
            waits.append(max(due, self._store_again_at - time.monotonic()))
        return max(0.0, min(waits))

    def _note(self, note: _Note) -> None:
        self._notes.put(note)
        self._wake.set()

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic == self._topics[Channel.CONFIG]:
            self._note(_ConfigPayload(payload))

    def _handle_notes(self) -> None:
        acked: list[int] = []
        while True:
            try:
                note = self._notes.get_nowait()
            except queue.Empty:
                break
            if isinstance(note, _PubAck):
                item_id = self._inflight.pop(note.mid, None)
                if item_id is None:
                    continue  # the status message, or a mid from before a reconnect
                if note.reason == _NO_SUBSCRIBERS:
                    self._hold_back()
                elif note.reason >= _REFUSED:
                    self.outbox.dead_letter(item_id, note.name)
                else:
                    acked.append(item_id)
                    if self._held_until is None:
                        self._hold_backoff.reset()
            elif isinstance(note, _Link):
                if note.up:
                    self._publish_online()
                else:
                    self._inflight.clear()
                    self.outbox.rewind()
            else:
                self._handle_config(note.payload)
        self.outbox.ack(acked)

    def _hold_back(self) -> None:
        """Stop publishing for a while; then replay from the first undelivered message."""
        if self._held_until is not None:
            return
        delay = self._hold_backoff.next()
        self._held_until = time.monotonic() + delay
        log.warning(
            "broker has no subscriber for %s's messages (is the ingest running?);"
            " keeping them and sending again in %.1f s",
            self.device_id,
            delay,
        )

    def _publish(self) -> None:
        if self._held_until is not None:
            # Resume once the pause is over and every message in flight has its answer,
            # so the replay starts from the oldest undelivered message, in order.
            if time.monotonic() < self._held_until or self._inflight:
                return
            self._held_until = None
            self.outbox.rewind()
        free = self._window - len(self._inflight)
        if free <= 0 or not self.transport.connected:
            return
        for item in self.outbox.take(free):
            mid = self.transport.publish(item.topic, item.payload, qos=item.qos)
            if mid is None:
                return  # connection lost; the disconnect note rewinds the outbox
            self._inflight[mid] = item.id

    def _flush_telemetry(self, *, force: bool = False) -> None:
        if not force and time.monotonic() < self._store_again_at:
            return  # the outbox refused the last batches: give it a moment
        batches = self.batcher.take_due(force=force)
        if not batches:
            return
        try:
            self._store_telemetry(batches)
        except sqlite3.Error as exc:
            # Disk full or failing: the readings wait in memory (bounded) for the next try.
            dropped = self.batcher.put_back(batches, max_waiting=MAX_WAITING_READINGS)
            self._store_again_at = time.monotonic() + STORE_AGAIN_S
            self._telemetry_failures.failed(
                exc,
                f"{len(self.batcher)} readings wait in memory for a try in {STORE_AGAIN_S:.0f} s"
                + (f" ({dropped} oldest dropped, over {MAX_WAITING_READINGS})" if dropped else ""),
            )
            return
        lost = self.batcher.dropped
        self._telemetry_failures.recovered(
            f"{lost} readings dropped since the agent started" if lost else ""
        )

    def _store_telemetry(self, batches: Sequence[list[Reading]]) -> None:
        topic = self._topics[Channel.TELEMETRY]

        def entry(batch: list[Reading]) -> Entry:
            def build(seq: int) -> tuple[str, bytes]:
                message = Telemetry(device_id=self.device_id, seq=seq, readings=batch)
                return topic, encode(message)

            return Entry(Lane.TELEMETRY, build, readings=len(batch))

        try:
            self.outbox.put_many([entry(b) for b in batches])
        except PayloadTooLarge:
            # Readings with many tags can overflow a message: halve and store again.
            smaller = [half for b in batches for half in (b[: len(b) // 2], b[len(b) // 2 :])]
            if all(len(b) <= 1 for b in batches):
                raise
            self._store_telemetry([b for b in smaller if b])

    def _heartbeat_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self._heartbeat_s
        counters = self.outbox.counters()
        stats = OutboxStats(
            depth=counters.depth,
            bytes=counters.stored_bytes,
            dropped_messages=counters.dropped_messages,
            dropped_readings=counters.dropped_readings + self.batcher.dropped,
        )

        def build(seq: int) -> tuple[str, bytes]:
            state = State(
                device_id=self.device_id,
                seq=seq,
                uptime_s=round(now - self._started, 3),
                heartbeat_interval_s=self._heartbeat_s,
                software=self.software,
                kind=self.config.device.kind,
                site=self.config.device.site,
                config_version=self.config_version,
                outbox=stats,
            )
            return self._topics[Channel.STATE], encode(state)

        try:
            self.outbox.put(Entry(Lane.TELEMETRY, build))
        except sqlite3.Error as exc:
            # A state report is for now or never: the next one goes at the next interval.
            self._heartbeat_failures.failed(exc, "this heartbeat is skipped")
            return
        self._heartbeat_failures.recovered()

    # -- presence ------------------------------------------------------------------------

    def _next_will(self) -> Will:
        """Called before every connection attempt: each connection is a new session."""
        self._session = new_message_id()
        self._session_since = now_us()
        offline = Status(
            device_id=self.device_id,
            state="offline",
            session=self._session,
            since=self._session_since,
        )
        return Will(self._topics[Channel.STATUS], encode(offline))

    def _publish_online(self) -> None:
        online = Status(
            device_id=self.device_id,
            state="online",
            session=self._session,
            since=self._session_since,
        )
        self.transport.publish(self._topics[Channel.STATUS], encode(online), retain=True)

    # -- pushed config -------------------------------------------------------------------

    def _handle_config(self, payload: bytes) -> None:
        if not payload:
            return  # the retained config was cleared
        try:
            pushed = decode_as(DeviceConfig, payload)
        except WireError as exc:
            log.error("ignoring unreadable config message: %s", exc)
            return
        if pushed.device_id != self.device_id:
            log.error("ignoring config addressed to %s", pushed.device_id)
            return
        current = self.config_version or 0
        if pushed.version <= current or pushed.version == self._rejected_version:
            return  # already running it (the retained copy comes back on every connect)
        try:
            settings = validate(pushed)
        except ConfigRejected as exc:
            self._rejected_version = pushed.version
            log.error(
                "refusing config version %d: %s (keeping version %s)",
                pushed.version,
                exc,
                self.config_version,
            )
            self._ack_config(pushed.version, "rejected", str(exc))
            return
        self._config_store.save(AppliedConfig(version=pushed.version, settings=settings))
        self._apply(settings)
        self.config_version = pushed.version
        log.info("applied config version %d", pushed.version)
        self._ack_config(pushed.version, "applied", None)

    def _apply(self, settings: RemoteSettings) -> None:
        if settings.telemetry is not None:
            self.batcher.max_readings = settings.telemetry.max_readings
            self.batcher.max_age_s = settings.telemetry.max_age_s
        if settings.heartbeat is not None:
            self._heartbeat_s = settings.heartbeat.interval_s
            self._next_heartbeat = min(self._next_heartbeat, time.monotonic() + self._heartbeat_s)
        for listener in self._config_listeners:
            listener(settings)

    def _ack_config(self, version_: int, result: str, reason: str | None) -> None:
        def build(seq: int) -> tuple[str, bytes]:
            ack = ConfigAck.model_validate(
                {
                    "device_id": self.device_id,
                    "seq": seq,
                    "version": version_,
                    "result": result,
                    "reason": reason,
                },
                strict=False,
            )
            return self._topics[Channel.CONFIG_ACK], encode(ack)

        self.outbox.put(Entry(Lane.TRANSACTION, build))
        self._wake.set()
