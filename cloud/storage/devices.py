"""Device records: kept current by the ingest, read by the API.

Every update is a single conditional statement, so two ingest workers handling
messages of the same device in either order end with the same row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from cloud.storage.sql import insert_for
from cloud.storage.tables import Device
from wire import ConfigAck, State, Status


@dataclass(slots=True)
class Seen:
    """A device was heard from between ``first`` and ``last`` (cloud time), the highest
    stream number being ``seq`` (-1 for messages without one)."""

    first: datetime
    last: datetime
    seq: int = -1

    def add(self, at: datetime, seq: int) -> None:
        self.first = min(self.first, at)
        self.last = max(self.last, at)
        self.seq = max(self.seq, seq)


def record_activity(session: Session, *, seen: Mapping[str, Seen]) -> None:
    """Create unknown devices and move ``last_seen``/``last_seq`` forward, never back."""
    if not seen:
        return
    table = Device.__table__
    ins = insert_for(session, table)  # type: ignore[arg-type]
    rows = [
        {
            "device_id": d,
            "first_seen": s.first,
            "last_seen": s.last,
            "last_seq": s.seq,
            "kind": "generic",
        }
        for d, s in sorted(seen.items())
    ]
    stmt = ins.values(rows).on_conflict_do_update(
        index_elements=["device_id"],
        set_={
            "last_seen": case(
                (ins.excluded.last_seen > Device.last_seen, ins.excluded.last_seen),
                else_=Device.last_seen,
            ),
            "last_seq": case(
                (ins.excluded.last_seq > Device.last_seq, ins.excluded.last_seq),
                else_=Device.last_seq,
            ),
        },
    )
    session.execute(stmt)


def record_status(session: Session, *, status: Status, at: datetime) -> None:
    """Online names the current session; an offline will counts only for its own
    session (a late will of an older connection must not mark a newer one offline)."""
    if status.state == "online":
        session.execute(
            update(Device)
            .where(Device.device_id == status.device_id)
            .values(online=True, status_session=status.session, status_at=at)
        )
    else:
        session.execute(
            update(Device)
            .where(
                Device.device_id == status.device_id,
                or_(Device.status_session == status.session, Device.status_session.is_(None)),
            )
            .values(online=False, status_session=status.session, status_at=at)
        )


def record_state(session: Session, *, state: State) -> None:
    """Keep the newest heartbeat (by device time); a replayed older one changes nothing."""
    session.execute(
        update(Device)
        .where(
            Device.device_id == state.device_id,
            or_(Device.state_ts.is_(None), Device.state_ts < state.ts),
        )
        .values(
            state_ts=state.ts,
            kind=state.kind,
            site=state.site,
            software=state.software,
            heartbeat_interval_s=state.heartbeat_interval_s,
            uptime_s=state.uptime_s,
            outbox_depth=sum(state.outbox.depth.values()),
            outbox_bytes=state.outbox.bytes,
            dropped_readings=state.outbox.dropped_readings,
        )
    )


def record_config_ack(session: Session, *, ack: ConfigAck) -> None:
    if ack.result == "applied":
        session.execute(
            update(Device)
            .where(
                Device.device_id == ack.device_id,
                or_(Device.config_version.is_(None), Device.config_version < ack.version),
            )
            .values(config_version=ack.version)
        )
    else:
        session.execute(
            update(Device)
            .where(Device.device_id == ack.device_id)
            .values(config_rejected_version=ack.version, config_rejected_reason=ack.reason)
        )


def list_devices(session: Session, *, site: str | None = None) -> Sequence[Device]:
    query = select(Device).order_by(Device.device_id)
    if site is not None:
        query = query.where(Device.site == site)
    return session.scalars(query).all()


def get_device(session: Session, *, device_id: str) -> Device | None:
    return session.get(Device, device_id)
