"""A batch of received messages: what they hold, and its SQL in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.rules import actions_for
from cloud.alerts.site_map import SiteMap
from cloud.ingest.classify import Accepted, TelemetrySummary
from cloud.storage.alerts import apply_actions
from cloud.storage.checkout import record_corrections, record_transactions
from cloud.storage.devices import (
    Seen,
    record_activity,
    record_config_ack,
    record_state,
    record_status,
)
from cloud.storage.events import insert_events
from cloud.storage.parking import record_parking
from cloud.storage.rejects import Rejection, record_rejections
from cloud.storage.tables import Device
from wire import ConfigAck, Event, State, Status
from wire.checkout import CheckoutCorrection, CheckoutTransaction


@dataclass(slots=True)
class Received:
    """One message as the broker delivered it, decided."""

    mid: int
    qos: int
    generation: int  # the connection it came on
    received: float  # time.time() on arrival; a datetime per message costs too much
    result: Accepted | Rejection
    lines: int  # InfluxDB lines it adds to a batch
    link: int = 0  # which of the worker's MQTT sessions delivered it
    durable: bool | None = None  # written (True), given up (False), not yet (None)


@dataclass(slots=True)
class Tally:
    accepted: int = 0
    readings: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.accepted += other.accepted
        self.readings += other.readings
        for reason, n in other.rejected.items():
            self.rejected[reason] = self.rejected.get(reason, 0) + n


@dataclass
class SqlBatch:
    """The SQL work of a batch, sorted by table, and what the batch held."""

    tally: Tally = field(default_factory=Tally)
    heard: dict[str, list[float]] = field(default_factory=dict)  # device → [first, last, seq]
    events: list[Event] = field(default_factory=list)
    typed: list[tuple[Event, BaseModel]] = field(default_factory=list)  # events with typed data
    transactions: list[tuple[Event, CheckoutTransaction]] = field(default_factory=list)
    corrections: list[tuple[Event, CheckoutCorrection]] = field(default_factory=list)
    records: list[tuple[Status | State | ConfigAck, float]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def sort_batch(batch: Sequence[Received]) -> SqlBatch:
    """One pass over the batch (it is the ingest's hot path)."""
    out = SqlBatch()
    tally = out.tally
    for item in batch:
        result = item.result
        if isinstance(result, Rejection):
            out.rejections.append(result)
            tally.rejected[result.reason] = tally.rejected.get(result.reason, 0) + 1
            continue
        tally.accepted += 1
        message = result.message
        seq = -1
        if isinstance(message, TelemetrySummary):
            tally.readings += message.readings
            seq = message.seq
        elif isinstance(message, Event):
            out.events.append(message)
            seq = message.seq
            if result.data is not None:
                out.typed.append((message, result.data))
            if isinstance(result.data, CheckoutTransaction):
                out.transactions.append((message, result.data))
            elif isinstance(result.data, CheckoutCorrection):
                out.corrections.append((message, result.data))
        elif isinstance(message, (Status, State, ConfigAck)):
            out.records.append((message, item.received))
            seq = getattr(message, "seq", -1)
        device = out.heard.get(message.device_id)
        if device is None:
            out.heard[message.device_id] = [item.received, item.received, seq]
        else:  # items arrive in order: only the end moves
            device[1] = item.received
            device[2] = max(device[2], seq)
    return out


def write_sql(
    session: Session, batch: SqlBatch, *, keep_payload_bytes: int, site_map: SiteMap
) -> int:
    """The batch's SQL; returns how many alert changes it made (0: nobody to wake)."""
    now = datetime.now(UTC)
    seen = {d: Seen(_utc(f), _utc(last), int(seq)) for d, (f, last, seq) in batch.heard.items()}
    record_activity(session, seen=seen)
    for message, at in batch.records:
        if isinstance(message, Status):
            record_status(session, status=message, at=_utc(at))
        elif isinstance(message, State):
            record_state(session, state=message)
        else:
            record_config_ack(session, ack=message)
    insert_events(session, events=batch.events, received_at=now)
    record_transactions(session, transactions=batch.transactions, received_at=now)
    record_corrections(session, corrections=batch.corrections)
    record_rejections(session, rejections=batch.rejections, at=now, keep_bytes=keep_payload_bytes)
    return _apply_alerts(session, batch.typed, site_map=site_map, at=now)


def _apply_alerts(
    session: Session, typed: list[tuple[Event, BaseModel]], *, site_map: SiteMap, at: datetime
) -> int:
    if not typed:
        return 0
    boxes = {event.device_id for event, _ in typed}
    query = select(Device.device_id, Device.site).where(Device.device_id.in_(boxes))
    registered: dict[str, str | None] = dict(session.execute(query).all())

    def site_of(box: str, data: BaseModel | None = None) -> str:
        # A box's first events can arrive before its first heartbeat (which says its
        # site): then the site the event itself carries, if it carries one.
        declared = getattr(data, "site", None)
        return site_map.site_of_box(box) or registered.get(box) or declared or "default"

    parking = [(e, d, site_of(e.device_id)) for e, d in typed if e.type.startswith("parking.")]
    if parking:
        record_parking(session, items=parking)
    changes = 0
    for event, data in typed:
        site = site_of(event.device_id, data)
        actions = actions_for(event, data, site=site, site_map=site_map)
        changes += apply_actions(
            session,
            actions=actions,
            at=at,
            box_id=event.device_id,
            msg_id=event.msg_id,
            site_map=site_map,
        )
    return changes


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)
