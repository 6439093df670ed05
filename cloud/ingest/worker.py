"""The ingest worker: MQTT v5 shared subscription → InfluxDB and SQL → acknowledge.

* paho's network thread classifies each message (pure, cheap) and queues it;
* one writer thread takes batches, writes InfluxDB, then SQL, retrying with backoff
  while either is down, and only then sends the PUBACKs (manual acknowledgement);
* the session is persistent (clean start off, long expiry): whatever this worker has
  not acknowledged, the broker keeps and delivers again after a crash or restart;
* two sessions: events (alarms above all) come on one of their own, so that a
  telemetry backlog at the broker (it queues per session, first in, first out) never
  holds an alarm back; in the worker, too, events are written first.

Several workers with distinct names in one share group split the load. Mosquitto
keeps giving an offline member its share (queued for its return), so a worker that
leaves for good must say so: :meth:`IngestWorker.retire` (``tianshan ingest --retire``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.live import ALERTS_TOPIC
from cloud.alerts.site_map import load_site_map
from cloud.config import CloudSettings
from cloud.ingest.batch import Received, Tally, sort_batch, write_sql
from cloud.ingest.classify import (
    INTERNAL_ERROR,
    STORAGE_REFUSED,
    Accepted,
    TelemetrySummary,
    classify,
)
from cloud.ingest.metrics import IngestMetrics
from cloud.mqtt_client import ack_many, new_client
from cloud.storage.influx import InfluxRejected, InfluxUnavailable, InfluxWriter
from cloud.storage.rejects import Rejection
from cloud.storage.sql import make_engine, session_factory, writer_factory
from wire import (
    DEVICE_TO_CLOUD,
    Channel,
    Event,
    device_topic,
    encode,
    subscription,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Stopping(Exception):
    """Raised inside retries when the worker is asked to stop: leave things unacked."""


@dataclass
class _Link:
    """One MQTT session of the worker and the device channels it subscribes to."""

    index: int
    client_id: str
    channels: tuple[Channel, ...]
    client: mqtt.Client
    generation: int = 0  # +1 per connection; acks go only to the current one
    connected: threading.Event = field(default_factory=threading.Event)
    # Every QoS 1 message in arrival order: PUBACKs go out in that order (MQTT 5
    # section 4.6), even when an event was written ahead of earlier telemetry.
    arrivals: deque[Received] = field(default_factory=deque)


class IngestWorker:
    def __init__(self, settings: CloudSettings, *, metrics: IngestMetrics | None = None) -> None:
        self.settings = settings
        self.cfg = settings.ingest
        self.metrics = metrics or IngestMetrics()
        self.engine = make_engine(settings.sql.url)
        self.sessions: sessionmaker[Session] = writer_factory(self.engine)
        self.readers: sessionmaker[Session] = session_factory(self.engine)  # for looking in
        self.influx = InfluxWriter(settings.influx)
        self.site_map = load_site_map(settings.site_map)
        self.client_id = f"tianshan-ingest-{self.cfg.worker_name}"

        self._cond = threading.Condition()
        # Events (alarms above all) jump the queue: under a telemetry backlog an alarm
        # must not wait for thousands of readings that arrived before it.
        self._urgent: deque[Received] = deque()
        self._pending: deque[Received] = deque()
        self._pending_lines = 0
        self._stopping = threading.Event()
        self._last_message = time.monotonic()
        self._retiring = False
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)

        events = (Channel.EVENT,)
        self.links = [
            self._link(0, self.client_id, tuple(c for c in DEVICE_TO_CLOUD if c not in events)),
            self._link(1, f"{self.client_id}-events", events),
        ]

    def _link(self, index: int, client_id: str, channels: tuple[Channel, ...]) -> _Link:
        client = new_client(self.settings.broker, client_id=client_id, manual_ack=True)
        link = _Link(index, client_id, channels, client)
        client.on_connect = partial(self._on_connect, link)
        client.on_disconnect = partial(self._on_disconnect, link)
        client.on_message = partial(self._on_message, link)
        return link

    @property
    def client(self) -> mqtt.Client:
        """The session that takes telemetry (the other takes events)."""
        return self.links[0].client

    @property
    def connected(self) -> bool:
        return all(link.connected.is_set() for link in self.links)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        props.ReceiveMaximum = self.cfg.receive_maximum
        broker = self.settings.broker
        log.info(
            "ingest %s: broker %s:%d, InfluxDB %s/%s, SQL %s",
            self.client_id,
            broker.host,
            broker.port,
            self.settings.influx.url,
            self.settings.influx.database,
            self.engine.url.render_as_string(hide_password=True),
        )
        self._writer.start()
        for link in self.links:
            link.client.connect_async(
                broker.host,
                broker.port,
                keepalive=broker.keepalive_s,
                clean_start=False,
                properties=props,
            )
            link.client.loop_start()

    def stop(self, *, timeout: float = 30.0) -> None:
        """Finish what can be finished in ``timeout``; the rest stays unacknowledged
        at the broker and is delivered again."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._writer.join(timeout)
        for link in self.links:
            link.client.disconnect()
            link.client.loop_stop()
        self.influx.close()
        self.engine.dispose()

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(
            link.connected.wait(max(0.0, deadline - time.monotonic())) for link in self.links
        )

    def _acked(self) -> float:
        return self.metrics.registry.get_sample_value("tianshan_ingest_acked_total") or 0.0

    def retire(self, *, idle_s: float = 2.0, timeout: float = 600.0) -> int:
        """Leave the share group for good: unsubscribe (no new share), ingest what the
        broker had queued for this worker, then end the session. Returns how many
        messages were drained. Call after :meth:`start`; stops the worker."""
        if not self.wait_connected(30):
            raise RuntimeError("cannot retire: not connected to the broker")
        self._retiring = True
        group = self.cfg.share_group
        for link in self.links:
            link.client.unsubscribe([subscription(c, share_group=group) for c in link.channels])
        before = self._acked()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                busy = bool(self._pending or self._urgent)
            if not busy and time.monotonic() - self._last_message >= idle_s:
                break
            time.sleep(0.1)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._writer.join(timeout)
        drained = int(self._acked() - before)
        # A session expiry of 0 on DISCONNECT makes the broker forget this worker.
        props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        for link in self.links:
            link.client.disconnect(properties=props)
            link.client.loop_stop()
        self.influx.close()
        self.engine.dispose()
        log.info("ingest %s retired: drained %d messages, session removed", self.client_id, drained)
        return drained

    # -- paho callbacks (network thread) -------------------------------------------------

    def _on_connect(  # noqa: PLR0917 - paho passes its callback arguments by position
        self,
        link: _Link,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the ingest connection: %s", reason.getName())
            return
        with self._cond:
            link.generation += 1
        if self._retiring:
            return
        group = self.cfg.share_group
        # Always subscribe again: Mosquitto 2.0 restores a session after a restart but
        # not its shared subscriptions.
        client.subscribe([(subscription(c, share_group=group), 1) for c in link.channels])
        link.connected.set()
        self.metrics.connected.set(1 if self.connected else 0)
        log.info(
            "ingest %s connected (session present: %s), group %s",
            link.client_id,
            getattr(flags, "session_present", "?"),
            group,
        )

    def _on_disconnect(  # noqa: PLR0917 - paho passes its callback arguments by position
        self,
        link: _Link,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        link.connected.clear()
        self.metrics.connected.set(0)
        if not self._stopping.is_set():
            log.warning(
                "ingest %s lost the broker (%s); reconnecting", link.client_id, reason.getName()
            )

    def _on_message(
        self, link: _Link, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        self._last_message = time.monotonic()
        result = classify(message.topic, bytes(message.payload))
        lines = result.line_count if isinstance(result, Accepted) else 0
        item = Received(
            message.mid, message.qos, link.generation, time.time(), result, lines, link.index
        )
        # Events (alarms first of all) neither queue behind telemetry nor wait for a batch.
        urgent = isinstance(result, Accepted) and isinstance(result.message, Event)
        with self._cond:
            if item.qos > 0:
                link.arrivals.append(item)
            if urgent:
                self._urgent.append(item)
                self._cond.notify()
                return
            self._pending.append(item)
            self._pending_lines += item.lines
            if self._pending_lines >= self.cfg.batch_max_lines or len(self._pending) == 1:
                self._cond.notify()

    # -- writer thread -------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            self._retry("InfluxDB setup", self.influx.ensure_database, store="influx")
        except InfluxRejected as exc:
            # InfluxDB 2.x/3.x have no CREATE DATABASE: the bucket (and its DBRP
            # mapping) is made when InfluxDB is set up.
            log.warning(
                "cannot create database %s (%s); writing to it anyway",
                self.settings.influx.database,
                _short(exc),
            )
        except _Stopping:
            return
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._commit(batch)
            except _Stopping:
                log.info(
                    "stopping with %d messages not yet durable; the broker keeps them",
                    len(batch) + len(self._pending) + len(self._urgent),
                )
                return
            except Exception:  # never let one batch kill the worker
                log.exception("unexpected error committing a batch; it stays unacknowledged")
                self._ack(batch, durable=False)
                self._sleep(1.0)

    def _next_batch(self) -> list[Received] | None:
        """Wait for an event, a full batch, or the oldest message to be
        ``batch_max_delay_s`` old. Events go first; telemetry fills the rest."""
        cfg = self.cfg
        with self._cond:
            while True:
                if self._stopping.is_set() and not self._pending and not self._urgent:
                    return None
                if self._urgent:
                    break
                if self._pending:
                    age = time.time() - self._pending[0].received
                    if (
                        self._pending_lines >= cfg.batch_max_lines
                        or age >= cfg.batch_max_delay_s
                        or self._stopping.is_set()
                    ):
                        break
                    self._cond.wait(cfg.batch_max_delay_s - age)
                else:
                    self._cond.wait(1.0)
            batch: list[Received] = []
            lines = 0
            while self._urgent and (
                not batch or lines + self._urgent[0].lines <= cfg.batch_max_lines
            ):
                item = self._urgent.popleft()
                lines += item.lines
                batch.append(item)
            # Events go alone: telemetry in their batch would only make their write longer;
            # unless telemetry has waited ten batch delays (a storm of events must not
            # starve it).
            starving = bool(self._pending) and (
                time.time() - self._pending[0].received >= 10 * cfg.batch_max_delay_s
            )
            if not batch or starving:
                while self._pending and (
                    not batch or lines + self._pending[0].lines <= cfg.batch_max_lines
                ):
                    item = self._pending.popleft()
                    lines += item.lines
                    batch.append(item)
                self._pending_lines -= lines
            self.metrics.pending.set(len(self._pending) + len(self._urgent))
            return batch

    def _commit(self, batch: list[Received]) -> None:
        started = time.perf_counter()
        lines: list[str] = []
        points = 0
        for item in batch:
            if isinstance(item.result, Accepted):
                lines.extend(item.result.lines)
                points += item.result.line_count
        try:
            self._retry("InfluxDB write", partial(self.influx.write, lines), store="influx")
        except InfluxRejected as exc:
            log.warning("InfluxDB refused part of a batch (%s); writing message by message", exc)
            self._write_one_by_one(batch)
        try:
            tally = self._retry("SQL write", partial(self._write_sql, batch), store="sql")
        except DBAPIError as exc:
            log.warning("SQL refused a batch (%s); writing message by message", exc)
            tally = Tally()
            for item in batch:
                tally.add(self._write_sql_alone(item))
        self._ack(batch)
        self._count(tally, points=points, seconds=time.perf_counter() - started)

    def _count(self, tally: Tally, *, points: int, seconds: float) -> None:
        m = self.metrics
        for reason, n in tally.rejected.items():
            m.rejected.labels(reason).inc(n)
        m.received.labels("accepted").inc(tally.accepted)
        m.received.labels("rejected").inc(sum(tally.rejected.values()))
        m.readings.inc(tally.readings)
        m.points.inc(points)
        m.batch_seconds.observe(seconds)

    def _write_one_by_one(self, batch: list[Received]) -> None:
        """Find the messages InfluxDB refuses; they become rejections, the rest are written."""
        for item in batch:
            result = item.result
            if not isinstance(result, Accepted) or not result.lines:
                continue
            try:
                self._retry(
                    "InfluxDB write", partial(self.influx.write, result.lines), store="influx"
                )
            except InfluxRejected as exc:
                item.result = _refused(result, STORAGE_REFUSED, str(exc))

    def _write_sql_alone(self, item: Received) -> Tally:
        try:
            return self._retry("SQL write", partial(self._write_sql, [item]), store="sql")
        except DBAPIError as exc:
            if isinstance(item.result, Accepted):
                item.result = _refused(item.result, INTERNAL_ERROR, f"SQL refused it: {exc!r}")
                return self._retry("SQL write", partial(self._write_sql, [item]), store="sql")
            log.error("cannot keep a rejected message on %s: %r", item.result.topic[:200], exc)
            return Tally()

    def _write_sql(self, batch: Sequence[Received]) -> Tally:
        """One transaction for the batch's SQL; returns what the batch held."""
        work = sort_batch(batch)
        with self.sessions.begin() as session:
            changes = write_sql(
                session,
                work,
                keep_payload_bytes=self.cfg.keep_payload_bytes,
                site_map=self.site_map,
            )
        if changes:
            # Committed: every API replica may now push the changes to its consoles.
            self.links[-1].client.publish(ALERTS_TOPIC, b"", qos=0)
        return work.tally

    def _ack(self, batch: list[Received], *, durable: bool = True) -> None:
        """The batch is durable: acknowledge it, and whatever arrived before it on the
        same session and is durable too, in arrival order. Given up (``durable=False``):
        it stays unacknowledged (the broker delivers it again on the next connection)
        and no longer holds up the PUBACKs of what came after it."""
        released = self._settle(batch, durable=durable)
        acked = 0
        for link, items in zip(self.links, released, strict=True):
            if not link.connected.is_set():
                continue  # the broker delivers them again; they are written: harmless
            ack_many(link.client, [item.mid for item in items])  # all QoS 1 (subscribed so)
            acked += len(items)
        self.metrics.acked.inc(acked)

    def _settle(self, batch: list[Received], *, durable: bool) -> list[list[Received]]:
        """Mark the batch written (or given up); returns, per session, the messages
        now due a PUBACK, in arrival order."""
        released: list[list[Received]] = [[] for _ in self.links]
        with self._cond:
            for item in batch:
                item.durable = durable
            for link, release in zip(self.links, released, strict=True):
                while link.arrivals and link.arrivals[0].durable is not None:
                    item = link.arrivals.popleft()
                    # A packet id from an earlier connection may name another message now.
                    if item.durable and item.generation == link.generation:
                        release.append(item)
        return released

    # -- retries ---------------------------------------------------------------------------

    def _retry(self, what: str, action: Callable[[], T], *, store: str) -> T:
        """Run ``action`` until it succeeds; transient failures wait with backoff and
        jitter. Permanent failures (InfluxRejected, SQL data errors) propagate."""
        attempt = 0
        while True:
            try:
                result = action()
            except (InfluxUnavailable, OperationalError, InterfaceError) as exc:
                if self._stopping.is_set():
                    raise _Stopping from None
                delay = min(self.cfg.retry_max_s, self.cfg.retry_min_s * 2.0 ** min(attempt, 30))
                delay *= random.uniform(0.5, 1.0)
                (log.warning if attempt == 0 else log.debug)(
                    "%s failed (%s); retrying in %.1f s, messages stay unacknowledged",
                    what,
                    _short(exc),
                    delay,
                )
                self.metrics.retries.labels(store).inc()
                attempt += 1
                self._sleep(delay)
                continue
            if attempt:
                log.info("%s succeeded after %d retries", what, attempt)
            return result

    def _sleep(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise _Stopping


def _refused(accepted: Accepted, reason: str, detail: str) -> Rejection:
    """A message storage refused, kept as a rejection (as received where we have it)."""
    message = accepted.message
    topic = device_topic(message.device_id, message.channel)
    payload = accepted.payload
    if not payload and not isinstance(message, TelemetrySummary):
        payload = encode(message)
    return Rejection(topic, payload, reason, detail[:2000], message.device_id)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
