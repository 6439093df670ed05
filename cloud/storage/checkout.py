"""Checkout transactions and staff corrections in SQL; the bill of a transaction is its
latest correction, or what the box recorded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.storage.events import us_to_datetime
from cloud.storage.sql import insert_for
from cloud.storage.tables import CheckoutCorrectionRow, CheckoutTransactionRow
from wire import Event
from wire.checkout import CheckoutCorrection, CheckoutTransaction


def record_transactions(
    session: Session,
    *,
    transactions: Sequence[tuple[Event, CheckoutTransaction]],
    received_at: datetime,
) -> None:
    rows = [
        {
            "transaction_id": tx.transaction_id,
            "msg_id": event.msg_id,
            "device_id": event.device_id,
            "site": tx.site,
            "ts": us_to_datetime(tx.settled_ts if tx.settled_ts is not None else event.ts),
            "mode": tx.mode,
            "items": [item.model_dump(mode="json") for item in tx.items],
            "total_fen": tx.total_fen,
            "needs_staff": tx.needs_staff,
            "confidence": tx.confidence,
            "model_version": tx.model_version,
            "price_table_version": tx.price_table_version,
            "image_sha256": tx.image_sha256,
            "order_number": tx.order_number,
            "received_at": received_at,
        }
        for event, tx in transactions
    ]
    if rows:
        ins = insert_for(session, CheckoutTransactionRow.__table__)  # type: ignore[arg-type]
        session.execute(ins.values(rows).on_conflict_do_nothing(index_elements=["transaction_id"]))


def record_corrections(
    session: Session, *, corrections: Sequence[tuple[Event, CheckoutCorrection]]
) -> None:
    rows = [
        {
            "msg_id": event.msg_id,
            "transaction_id": c.transaction_id,
            "device_id": event.device_id,
            "ts": us_to_datetime(event.ts),
            "items": [item.model_dump(mode="json") for item in c.items],
            "total_fen": c.total_fen,
            "staff": c.staff,
            "price_table_version": c.price_table_version,
        }
        for event, c in corrections
    ]
    if rows:
        ins = insert_for(session, CheckoutCorrectionRow.__table__)  # type: ignore[arg-type]
        session.execute(ins.values(rows).on_conflict_do_nothing(index_elements=["msg_id"]))


@dataclass(frozen=True)
class Bill:
    """A transaction as it stands: the box's record and, if any, its latest correction."""

    row: CheckoutTransactionRow
    correction: CheckoutCorrectionRow | None

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.correction.items if self.correction else self.row.items

    @property
    def total_fen(self) -> int:
        return self.correction.total_fen if self.correction else self.row.total_fen


def list_bills(
    session: Session,
    *,
    site: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 1000,
) -> list[Bill]:
    """Newest first."""
    query = select(CheckoutTransactionRow).order_by(CheckoutTransactionRow.ts.desc()).limit(limit)
    if site is not None:
        query = query.where(CheckoutTransactionRow.site == site)
    if start is not None:
        query = query.where(CheckoutTransactionRow.ts >= start)
    if end is not None:
        query = query.where(CheckoutTransactionRow.ts < end)
    rows = session.scalars(query).all()
    latest: dict[str, CheckoutCorrectionRow] = {}
    if rows:
        corrections = session.scalars(
            select(CheckoutCorrectionRow)
            .where(CheckoutCorrectionRow.transaction_id.in_([r.transaction_id for r in rows]))
            .order_by(CheckoutCorrectionRow.ts)
        )
        for c in corrections:
            latest[c.transaction_id] = c
    return [Bill(r, latest.get(r.transaction_id)) for r in rows]


@dataclass
class Summary:
    trays: int = 0
    revenue_fen: int = 0
    sent_to_staff: int = 0
    corrected: int = 0
    meals_per_hour: Counter[str] = field(default_factory=Counter)
    revenue_per_colour_fen: Counter[str] = field(default_factory=Counter)
    items_per_colour: Counter[str] = field(default_factory=Counter)


def summarise(bills: Sequence[Bill], *, hour_of: Any) -> Summary:
    """Meals per hour (``hour_of(ts) -> label``), revenue per colour tier, staff share."""
    s = Summary()
    for bill in bills:
        s.trays += 1
        s.revenue_fen += bill.total_fen
        s.sent_to_staff += bill.row.needs_staff
        s.corrected += bill.correction is not None
        s.meals_per_hour[hour_of(bill.row.ts)] += 1
        for item in bill.items:
            key = item.get("dish") or item["colour"]
            s.items_per_colour[key] += 1
            s.revenue_per_colour_fen[key] += item.get("price_fen") or 0
    return s
