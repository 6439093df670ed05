"""Device events in SQL, exactly once by message id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.storage.sql import insert_for
from cloud.storage.tables import EventRecord
from wire import Event


def us_to_datetime(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / 1_000_000, tz=UTC)


def insert_events(session: Session, *, events: Iterable[Event], received_at: datetime) -> None:
    rows = [
        {
            "msg_id": e.msg_id,
            "device_id": e.device_id,
            "seq": e.seq,
            "ts": us_to_datetime(e.ts),
            "type": e.type,
            "severity": e.severity.value,
            "source": e.source,
            "data": e.data,
            "received_at": received_at,
        }
        for e in events
    ]
    if not rows:
        return
    ins = insert_for(session, EventRecord.__table__)  # type: ignore[arg-type]
    session.execute(ins.values(rows).on_conflict_do_nothing(index_elements=["msg_id"]))


def list_events(
    session: Session,
    *,
    device_id: str | None = None,
    type_prefix: str | None = None,
    limit: int = 100,
) -> Sequence[EventRecord]:
    query = select(EventRecord).order_by(EventRecord.ts.desc()).limit(limit)
    if device_id is not None:
        query = query.where(EventRecord.device_id == device_id)
    if type_prefix is not None:
        query = query.where(EventRecord.type.startswith(type_prefix, autoescape=True))
    return session.scalars(query).all()
