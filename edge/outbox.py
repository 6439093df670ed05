"""The durable outbox: every message is in SQLite before it is published, and leaves
only when the broker has acknowledged it (PUBACK).

* WAL journal with ``synchronous=FULL``: a committed message survives a power cut.
* Three lanes drained in priority order: alarms, then transactions, then telemetry.
* A quota on stored bytes: past it, the oldest telemetry not yet handed to the broker
  is dropped and counted; alarms and transactions are never dropped.
* The per-device sequence number is allocated in the same transaction as the insert,
  so it is gapless across restarts (gaps mean a counted quota drop).

Thread-safe: producers call :meth:`put` from any thread; one publisher thread calls
:meth:`take`, :meth:`ack` and :meth:`rewind`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

log = logging.getLogger(__name__)

# Bytes counted per row on top of topic and payload (row header, index entries).
ROW_OVERHEAD_BYTES = 64


class Lane(IntEnum):
    """Priority lanes; a lower value is drained first."""

    ALARM = 0
    TRANSACTION = 1
    TELEMETRY = 2


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    lane: Lane
    topic: str
    payload: bytes
    qos: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A message to store: ``build(seq)`` makes (topic, payload) once the seq is known."""

    lane: Lane
    build: Callable[[int], tuple[str, bytes]]
    readings: int = 0
    qos: int = 1


@dataclass(frozen=True, slots=True)
class OutboxCounters:
    depth: dict[str, int]
    stored_bytes: int
    dropped_messages: int
    dropped_readings: int
    dead_letters: int
    next_seq: int
    readings_stored: int


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    lane     INTEGER NOT NULL,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    qos      INTEGER NOT NULL,
    readings INTEGER NOT NULL DEFAULT 0,
    size     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_lane_id ON outbox (lane, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letter (
    id       INTEGER PRIMARY KEY,
    lane     INTEGER NOT NULL,
    topic    TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    reason   TEXT    NOT NULL,
    at       REAL    NOT NULL
);
"""


class Outbox:
    def __init__(self, path: Path, *, quota_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.quota_bytes = quota_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM outbox").fetchone()
        self._stored_bytes: int = row[0]
        self._meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        self._next_seq = int(self._meta.get("next_seq", "0"))
        self._dropped_messages = int(self._meta.get("dropped_messages", "0"))
        self._dropped_readings = int(self._meta.get("dropped_readings", "0"))
        # Every reading ever stored here (dropped or sent): a source that can replay
        # (the simulator) resumes from this after a crash.
        self._readings_stored = int(self._meta.get("readings_stored", "0"))
        # Publisher state: the highest id handed out per lane since the last rewind.
        self._cursor = dict.fromkeys(Lane, 0)
        if row[1]:
            log.info("outbox %s holds %d messages (%d bytes) to replay", path, row[1], row[0])

    # -- producers ---------------------------------------------------------------

    def put(self, entry: Entry, *, meta: Mapping[str, str] | None = None) -> int:
        """Store one message durably; returns its sequence number."""
        return self.put_many([entry], meta=meta)[0]

    def put_many(
        self, entries: Sequence[Entry], *, meta: Mapping[str, str] | None = None
    ) -> list[int]:
        """Store several messages in one transaction (one fsync), with optional ``meta``
        key/values committed atomically with them. Returns their sequence numbers.

        If a ``build`` raises, nothing is stored and no sequence number is used.
        """
        with self._lock:
            seqs = list(range(self._next_seq, self._next_seq + len(entries)))
            rows = []
            for entry, seq in zip(entries, seqs, strict=True):
                topic, payload = entry.build(seq)
                size = len(topic) + len(payload) + ROW_OVERHEAD_BYTES
                rows.append((int(entry.lane), topic, payload, entry.qos, entry.readings, size))
            added = sum(r[5] for r in rows)
            updates = dict(meta or {})
            updates["next_seq"] = str(self._next_seq + len(entries))
            stored = sum(e.readings for e in entries)
            if stored:
                updates["readings_stored"] = str(self._readings_stored + stored)
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                dropped = self._make_room(added)
                db.executemany(
                    "INSERT INTO outbox (lane, topic, payload, qos, readings, size)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                if dropped:
                    updates["dropped_messages"] = str(self._dropped_messages + dropped[0])
                    updates["dropped_readings"] = str(self._dropped_readings + dropped[1])
                db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    updates.items(),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._next_seq += len(entries)
            self._readings_stored += stored
            self._stored_bytes += added - (dropped[2] if dropped else 0)
            if dropped:
                self._dropped_messages += dropped[0]
                self._dropped_readings += dropped[1]
                log.warning(
                    "outbox over quota (%d bytes): dropped %d oldest telemetry messages"
                    " (%d readings)",
                    self.quota_bytes,
                    dropped[0],
                    dropped[1],
                )
            self._meta.update(updates)
            return seqs

    def _make_room(self, needed: int) -> tuple[int, int, int] | None:
        """Inside a transaction: drop the oldest telemetry not yet handed to the broker
        until ``needed`` more bytes fit. Returns (messages, readings, bytes) dropped."""
        excess = self._stored_bytes + needed - self.quota_bytes
        if excess <= 0:
            return None
        candidates = self._db.execute(
            "SELECT id, readings, size FROM outbox WHERE lane = ? AND id > ? ORDER BY id",
            (int(Lane.TELEMETRY), self._cursor[Lane.TELEMETRY]),
        )
        ids: list[int] = []
        readings = freed = 0
        for row_id, n, size in candidates:
            if freed >= excess:
                break
            ids.append(row_id)
            readings += n
            freed += size
        if freed < excess:
            log.warning(
                "outbox quota exceeded by %d bytes with no telemetry left to drop;"
                " keeping alarms and transactions",
                excess - freed,
            )
        if not ids:
            return None
        self._db.executemany("DELETE FROM outbox WHERE id = ?", ((i,) for i in ids))
        return len(ids), readings, freed

    # -- publisher ---------------------------------------------------------------

    def take(self, limit: int) -> list[OutboxItem]:
        """Up to ``limit`` messages not yet handed out since the last rewind, in lane
        priority order and, within a lane, in the order they were stored."""
        items: list[OutboxItem] = []
        with self._lock:
            for lane in Lane:
                if len(items) >= limit:
                    break
                rows = self._db.execute(
                    "SELECT id, topic, payload, qos FROM outbox"
                    " WHERE lane = ? AND id > ? ORDER BY id LIMIT ?",
                    (int(lane), self._cursor[lane], limit - len(items)),
                ).fetchall()
                if rows:
                    self._cursor[lane] = rows[-1][0]
                    items.extend(OutboxItem(r[0], lane, r[1], r[2], r[3]) for r in rows)
        return items

    def ack(self, ids: Iterable[int]) -> None:
        """The broker has these: remove them (one transaction for the lot)."""
        id_list = [(i,) for i in ids]
        if not id_list:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                sizes = db.execute(
                    f"SELECT COALESCE(SUM(size), 0) FROM outbox WHERE id IN ({_marks(id_list)})",  # noqa: S608 (only "?" marks)
                    [i for (i,) in id_list],
                ).fetchone()[0]
                db.executemany("DELETE FROM outbox WHERE id = ?", id_list)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._stored_bytes -= sizes

    def dead_letter(self, item_id: int, reason: str) -> None:
        """The broker refused this message for good (e.g. not authorised): move it aside
        so it cannot block its lane, and keep it for inspection."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT lane, topic, payload, size FROM outbox WHERE id = ?", (item_id,)
                ).fetchone()
                if row is None:
                    db.execute("ROLLBACK")
                    return
                db.execute(
                    "INSERT OR REPLACE INTO dead_letter (id, lane, topic, payload, reason, at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (item_id, row[0], row[1], row[2], reason, time.time()),
                )
                db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._stored_bytes -= row[3]
        log.error(
            "broker refused outbox message %d on %s: %s (kept in dead_letter)",
            item_id,
            row[1],
            reason,
        )

    def rewind(self) -> None:
        """The connection dropped: hand everything still stored out again, in order."""
        with self._lock:
            self._cursor = dict.fromkeys(Lane, 0)

    # -- introspection -----------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        """Keep a small value beside the messages (durable, like them)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
            self._meta[key] = value

    def counters(self) -> OutboxCounters:
        with self._lock:
            depth = {lane.name.lower(): 0 for lane in Lane}
            for lane, count in self._db.execute("SELECT lane, COUNT(*) FROM outbox GROUP BY lane"):
                depth[Lane(lane).name.lower()] = count
            dead = self._db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0]
            return OutboxCounters(
                depth=depth,
                stored_bytes=self._stored_bytes,
                dropped_messages=self._dropped_messages,
                dropped_readings=self._dropped_readings,
                dead_letters=dead,
                next_seq=self._next_seq,
                readings_stored=self._readings_stored,
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))
