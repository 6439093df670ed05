"""Messages the ingest refused, kept with their reason for inspection."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.storage.sql import insert_for
from cloud.storage.tables import RejectedMessage


@dataclass(frozen=True, slots=True)
class Rejection:
    topic: str
    payload: bytes
    reason: str
    detail: str
    device_id: str | None = None

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(self.topic.encode(errors="replace"))
        h.update(b"\0")
        h.update(self.payload)
        return h.hexdigest()


def record_rejections(
    session: Session, *, rejections: Iterable[Rejection], at: datetime, keep_bytes: int
) -> None:
    rows: dict[str, dict[str, object]] = {}
    for r in rejections:
        digest = r.digest
        if digest in rows:
            rows[digest]["times_seen"] = int(rows[digest]["times_seen"]) + 1  # type: ignore[call-overload]
            continue
        rows[digest] = {
            "digest": digest,
            "first_seen": at,
            "last_seen": at,
            "times_seen": 1,
            "topic": r.topic[:512],
            "device_id": r.device_id,
            "reason": r.reason,
            "detail": r.detail[:2000],
            "payload_size": len(r.payload),
            "payload": r.payload[:keep_bytes],
        }
    if not rows:
        return
    ins = insert_for(session, RejectedMessage.__table__)  # type: ignore[arg-type]
    stmt = ins.values(list(rows.values())).on_conflict_do_update(
        index_elements=["digest"],
        set_={
            "times_seen": RejectedMessage.times_seen + ins.excluded.times_seen,
            "last_seen": ins.excluded.last_seen,
        },
    )
    session.execute(stmt)


def count_by_reason(session: Session) -> dict[str, int]:
    """Rejected deliveries per reason (redeliveries of one message counted each time)."""
    rows = session.execute(
        select(RejectedMessage.reason, func.sum(RejectedMessage.times_seen)).group_by(
            RejectedMessage.reason
        )
    )
    return {reason: int(total) for reason, total in rows}


def list_rejections(
    session: Session, *, reason: str | None = None, limit: int = 100
) -> Sequence[RejectedMessage]:
    query = select(RejectedMessage).order_by(RejectedMessage.last_seen.desc()).limit(limit)
    if reason is not None:
        query = query.where(RejectedMessage.reason == reason)
    return session.scalars(query).all()
