"""SQL tables: devices, events, rejected messages, checkout transactions.

The same schema on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, LargeBinary, String, Text
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
