"""SQL tables: devices, events, rejected messages, checkout transactions, alerts, parking.

The same schema on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    # SQLAlchemy reads this class attribute; it is never mutated.
    type_annotation_map = {  # noqa: RUF012
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[dict[str, Any]]: JSON,
    }


class Device(Base):
    """What the cloud knows of a device, updated by the ingest as messages arrive."""

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="generic")
    site: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime] = mapped_column(index=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=-1)
    # Presence, from the retained status topic (online, or the last will).
    online: Mapped[bool | None]
    status_session: Mapped[str | None] = mapped_column(String(32))
    status_at: Mapped[datetime | None]
    # From the latest heartbeat (by device time).
    state_ts: Mapped[int | None] = mapped_column(BigInteger)
    software: Mapped[str | None] = mapped_column(String(500))
    heartbeat_interval_s: Mapped[float | None] = mapped_column(Float)
    uptime_s: Mapped[float | None] = mapped_column(Float)
    outbox_depth: Mapped[int | None] = mapped_column(Integer)
    outbox_bytes: Mapped[int | None] = mapped_column(BigInteger)
    dropped_readings: Mapped[int | None] = mapped_column(BigInteger)
    # Pushed config: what the device acknowledged running, and its last refusal.
    config_version: Mapped[int | None] = mapped_column(Integer)
    config_rejected_version: Mapped[int | None] = mapped_column(Integer)
    config_rejected_reason: Mapped[str | None] = mapped_column(String(500))


class EventRecord(Base):
    """One device event; the message id makes a redelivered event a no-op."""

    __tablename__ = "events"

    msg_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    ts: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]

    __table_args__ = (Index("events_device_ts", "device_id", "ts"),)


class RejectedMessage(Base):
    """A message the ingest refused, kept for inspection. Identical redeliveries of
    the same message (same digest) raise ``times_seen`` instead of adding rows."""

    __tablename__ = "rejected_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    topic: Mapped[str] = mapped_column(String(512))
    device_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text)
    payload_size: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class CheckoutTransactionRow(Base):
    """A settled tray or menu order, once per transaction id (the box's bill)."""

    __tablename__ = "checkout_transactions"

    transaction_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64), index=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    mode: Mapped[str] = mapped_column(String(8))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total_fen: Mapped[int] = mapped_column(Integer)
    needs_staff: Mapped[bool]
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(100))
    price_table_version: Mapped[str] = mapped_column(String(100))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    order_number: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]


class CheckoutCorrectionRow(Base):
    """Staff changed a transaction's items at the kiosk; the latest correction is the bill."""

    __tablename__ = "checkout_corrections"

    msg_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(32), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    total_fen: Mapped[int] = mapped_column(Integer)
    staff: Mapped[str | None] = mapped_column(String(64))
    price_table_version: Mapped[str] = mapped_column(String(100))


class ApiToken(Base):
    """A bearer token for the API. Only its SHA-256 is stored: tokens are 256-bit random,
    so a fast hash is enough (no dictionary to guess from), and a leak of this table
    gives nobody a usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    station_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Alert(Base):
    """One open alert per (site, zone, device, type); a repeat raises ``count``."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(16), index=True)  # fire | parking | supervision
    site: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))  # detector, stud, bay or box
    type: Mapped[str] = mapped_column(String(64))
    box_id: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    is_open: Mapped[bool] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    dispatched_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    cleared_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]

    __table_args__ = (
        # At most one open alert per key (a partial unique index, on both databases).
        Index(
            "alerts_one_open",
            "site",
            "zone",
            "device",
            "type",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )


class AlertEvent(Base):
    """Every change of every alert, in order: the audit trail and the live stream. A
    console that reconnects asks for everything after the last id it saw."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]]
    snapshot: Mapped[dict[str, Any]]
    source_msg_id: Mapped[str | None] = mapped_column(String(32), index=True)


class Dispatch(Base):
    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(Integer, index=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16))  # requested | acknowledged
    requested_at: Mapped[datetime]
    requested_by: Mapped[str] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))


class Headcount(Base):
    """Evacuation counts a warden entered for one building in one incident (latest wins)."""

    __tablename__ = "headcounts"

    alert_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building: Mapped[str] = mapped_column(String(64), primary_key=True)
    moved: Mapped[int] = mapped_column(Integer)
    settled: Mapped[int] = mapped_column(Integer)
    counted: Mapped[int] = mapped_column(Integer)
    injured: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(100))


class Notification(Base):
    """A message owed to a channel (webhook): sent by whichever API replica claims it."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class NotificationAttempt(Base):
    """Every delivery attempt, successful or not."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


class DeviceRegistration(Base):
    """A box an operator registered: who it is meant to be, and where it stands in its
    life (registered → claimed → revoked). What the ingest hears lives in ``devices``."""

    __tablename__ = "device_registrations"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    registered_at: Mapped[datetime]
    registered_by: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(100))


class ClaimToken(Base):
    """A one-time token a box exchanges for its credentials. Only its SHA-256 is kept
    (the token is 192-bit random, so a fast hash suffices, as for API tokens)."""

    __tablename__ = "claim_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DeviceConfigRow(Base):
    """A config an operator pushed to a device; the highest version is the current one."""

    __tablename__ = "device_configs"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    settings: Mapped[dict[str, Any]]
    issued_at: Mapped[datetime]
    issued_by: Mapped[str] = mapped_column(String(100))


class ParkingBayRow(Base):
    """A parking bay as its box last reported it (snapshot or event, newest box time wins)."""

    __tablename__ = "parking_bays"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    bay_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    box_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    capacity: Mapped[int] = mapped_column(Integer)
    bikes: Mapped[int] = mapped_column(Integer)
    studs_total: Mapped[int] = mapped_column(Integer)
    studs_healthy: Mapped[int] = mapped_column(Integer)
    over_capacity: Mapped[bool]
    as_of_us: Mapped[int] = mapped_column(BigInteger)


class ParkingStudRow(Base):
    """A stud's health as its box last reported it; stud ids are unique fleet-wide."""

    __tablename__ = "parking_studs"

    stud_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    box_id: Mapped[str] = mapped_column(String(64))
    area: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int] = mapped_column(Integer)
    online: Mapped[bool]
    last_seen_us: Mapped[int | None] = mapped_column(BigInteger)
    battery_mv: Mapped[int | None] = mapped_column(Integer)
    rssi_dbm: Mapped[float | None] = mapped_column(Float)
    tamper: Mapped[bool]
    low_battery: Mapped[bool]
    bikes: Mapped[float] = mapped_column(Float)
    as_of_us: Mapped[int] = mapped_column(BigInteger)
