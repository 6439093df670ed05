"""Response models of the API (what clients see, separate from the SQL tables)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.storage.checkout import Bill
from cloud.storage.fleet import FleetEntry
from cloud.storage.tables import (
    ApiToken,
    Device,
    DeviceConfigRow,
    EventRecord,
    RejectedMessage,
)
from cloud.storage.tokens import Role
from wire.checkout import fen_to_yuan

# A device that has not been heard from for this many heartbeat intervals is silent.
SILENT_AFTER_HEARTBEATS = 3
DEFAULT_HEARTBEAT_S = 30.0


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


DeviceState = Literal["registered", "claimed", "online", "offline", "revoked"]


class DevicePublic(BaseModel):
    device_id: str
    name: str | None = Field(description="the operator's label; null if never registered")
    kind: str
    site: str | None
    state: DeviceState = Field(
        description="registered (waiting for its claim), claimed (not heard from yet), "
        "online, offline (or silent), revoked"
    )
    registered_at: datetime | None
    claimed_at: datetime | None
    revoked_at: datetime | None
    first_seen: datetime | None
    last_seen: datetime | None
    last_seq: int | None
    online: bool | None = Field(description="From the retained status topic; null if never seen")
    silent: bool = Field(
        description="No message for 3 heartbeat intervals: the box or its link is down"
    )
    software: str | None
    model_version: str | None = Field(description="the model of its latest checkout bill")
    uptime_s: float | None
    heartbeat_interval_s: float | None
    outbox_depth: int | None
    dropped_readings: int | None
    config_version: int | None = Field(description="the config version the device runs")
    config_current_version: int | None = Field(description="the latest version pushed to it")
    config_drift: bool = Field(description="a config was pushed that the device does not run")
    config_rejected_version: int | None
    config_rejected_reason: str | None

    @classmethod
    def from_row(cls, device: Device, *, now: datetime) -> DevicePublic:
        """A device as the ingest saw it, registration left aside."""
        return cls.from_entry(FleetEntry(device.device_id, None, device, None, None), now=now)

    @classmethod
    def from_entry(cls, entry: FleetEntry, *, now: datetime) -> DevicePublic:
        device, reg = entry.device, entry.registration
        last_seen = as_utc(device.last_seen) if device else None
        interval = (device.heartbeat_interval_s if device else None) or DEFAULT_HEARTBEAT_S
        silent = (
            last_seen is not None
            and (now - last_seen).total_seconds() > SILENT_AFTER_HEARTBEATS * interval
        )
        running = device.config_version if device else None
        wanted = entry.desired_config_version
        return cls(
            device_id=entry.device_id,
            name=reg.name if reg else None,
            kind=reg.kind if reg else (device.kind if device else "generic"),
            site=reg.site if reg else (device.site if device else None),
            state=_state(entry, silent=silent),
            registered_at=as_utc(reg.registered_at) if reg else None,
            claimed_at=as_utc(reg.claimed_at) if reg else None,
            revoked_at=as_utc(reg.revoked_at) if reg else None,
            first_seen=as_utc(device.first_seen) if device else None,
            last_seen=last_seen,
            last_seq=device.last_seq if device else None,
            online=device.online if device else None,
            silent=silent,
            software=device.software if device else None,
            model_version=entry.model_version,
            uptime_s=device.uptime_s if device else None,
            heartbeat_interval_s=device.heartbeat_interval_s if device else None,
            outbox_depth=device.outbox_depth if device else None,
            dropped_readings=device.dropped_readings if device else None,
            config_version=running,
            config_current_version=wanted,
            config_drift=wanted is not None and running != wanted,
            config_rejected_version=device.config_rejected_version if device else None,
            config_rejected_reason=device.config_rejected_reason if device else None,
        )


def _state(entry: FleetEntry, *, silent: bool) -> DeviceState:
    reg, device = entry.registration, entry.device
    if reg is not None and reg.revoked_at is not None:
        return "revoked"
    if device is None:
        return "claimed" if reg is not None and reg.claimed_at is not None else "registered"
    # No status message yet (an old agent): judge by the messages it sends.
    up = device.online if device.online is not None else True
    return "online" if up and not silent else "offline"


class TelemetryPoint(BaseModel):
    time: datetime
    ts_us: int = Field(description="The same instant in microseconds since the epoch")
    value: float | None


class TelemetrySeries(BaseModel):
    device: str
    tags: dict[str, str] = Field(description="The readings' own tags (raw queries)")
    points: list[TelemetryPoint]


class TelemetryResponse(BaseModel):
    field: str
    start: datetime
    end: datetime
    window: str | None
    aggregate: str | None
    truncated: bool = Field(description="A series had more points than `limit`")
    series: list[TelemetrySeries]


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    msg_id: str
    device_id: str
    seq: int
    ts: datetime
    type: str
    severity: str
    source: str | None
    data: dict[str, Any]
    received_at: datetime

    @classmethod
    def from_row(cls, row: EventRecord) -> EventPublic:
        public = cls.model_validate(row)
        return public.model_copy(
            update={"ts": as_utc(row.ts), "received_at": as_utc(row.received_at)}
        )


class RejectedPublic(BaseModel):
    id: int
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    topic: str
    device_id: str | None
    reason: str
    detail: str
    payload_size: int
    payload_kept: int = Field(description="Bytes of the payload kept")
    payload_text: str | None = Field(description="The kept payload, if it is UTF-8")
    payload_base64: str

    @classmethod
    def from_row(cls, row: RejectedMessage) -> RejectedPublic:
        try:
            text: str | None = row.payload.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return cls(
            id=row.id,
            first_seen=as_utc(row.first_seen) or datetime.now(UTC),
            last_seen=as_utc(row.last_seen) or datetime.now(UTC),
            times_seen=row.times_seen,
            topic=row.topic,
            device_id=row.device_id,
            reason=row.reason,
            detail=row.detail,
            payload_size=row.payload_size,
            payload_kept=len(row.payload),
            payload_text=text,
            payload_base64=base64.b64encode(row.payload).decode(),
        )


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Check]


class LineItemPublic(BaseModel):
    colour: str
    dish: str | None = None
    price: str | None = Field(description="yuan, e.g. '12.50'; null: unpriced (staff)")
    confidence: float


class TransactionPublic(BaseModel):
    transaction_id: str
    device_id: str
    site: str
    ts: datetime
    mode: str
    items: list[LineItemPublic]
    total: str = Field(description="yuan; the latest staff correction if there is one")
    total_fen: int
    needs_staff: bool
    corrected: bool
    original_total: str = Field(description="what the box billed")
    confidence: float
    model_version: str | None
    price_table_version: str
    image_sha256: str | None
    order_number: str | None

    @classmethod
    def from_bill(cls, bill: Bill) -> TransactionPublic:
        row = bill.row
        return cls(
            transaction_id=row.transaction_id,
            device_id=row.device_id,
            site=row.site,
            ts=as_utc(row.ts) or datetime.now(UTC),
            mode=row.mode,
            items=[
                LineItemPublic(
                    colour=i["colour"],
                    dish=i.get("dish"),
                    confidence=i.get("confidence", 1.0),
                    price=fen_to_yuan(i["price_fen"]) if i.get("price_fen") is not None else None,
                )
                for i in bill.items
            ],
            total=fen_to_yuan(bill.total_fen),
            total_fen=bill.total_fen,
            needs_staff=row.needs_staff,
            corrected=bill.correction is not None,
            original_total=fen_to_yuan(row.total_fen),
            confidence=row.confidence,
            model_version=row.model_version,
            price_table_version=row.price_table_version,
            image_sha256=row.image_sha256,
            order_number=row.order_number,
        )


class TierPublic(BaseModel):
    tier: str = Field(description="plate colour, or a menu dish")
    items: int
    revenue: str


class CheckoutSummaryPublic(BaseModel):
    start: datetime
    end: datetime
    timezone: str
    trays: int
    revenue: str
    sent_to_staff: int
    staff_share: float = Field(description="share of trays sent to staff, 0..1")
    corrected: int
    meals_per_hour: dict[str, int] = Field(description="'HH:00' local time → trays")
    revenue_per_tier: list[TierPublic]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role
    station_id: str | None = Field(
        default=None, max_length=64, description="required for, and only for, role station"
    )


class TokenPublic(BaseModel):
    id: int
    name: str
    role: str
    station_id: str | None
    created_at: datetime
    created_by: str | None
    revoked: bool
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: ApiToken) -> TokenPublic:
        return cls(
            id=row.id,
            name=row.name,
            role=row.role,
            station_id=row.station_id,
            created_at=as_utc(row.created_at) or datetime.now(UTC),
            created_by=row.created_by,
            revoked=row.revoked_at is not None,
            last_used_at=as_utc(row.last_used_at),
        )


class TokenCreated(TokenPublic):
    token: str = Field(description="the secret; shown this once, stored only as a hash")


class AlertPublic(BaseModel):
    id: int
    category: str
    site: str
    zone: str
    device: str
    type: str
    box_id: str | None
    severity: str
    state: str
    open: bool
    title: str
    data: dict[str, Any]
    count: int
    first_seen: datetime
    last_seen: datetime
    confirmed_at: datetime | None
    confirmed_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    dispatched_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    cleared_at: datetime | None
    escalated_at: datetime | None


class AlertChange(BaseModel):
    id: int
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


class DispatchPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    alert_id: int
    station_id: str
    state: str
    requested_at: datetime
    requested_by: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class HeadcountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    moved: int = Field(ge=0, le=100_000, description="people moved out of the building")
    settled: int = Field(ge=0, le=100_000, description="people settled at a safe place")
    counted: int = Field(ge=0, le=100_000, description="people counted present")
    injured: int = Field(ge=0, le=100_000)


class HeadcountPublic(HeadcountIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    building: str
    updated_at: datetime
    updated_by: str


class StationProposal(BaseModel):
    station_id: str
    name: str
    kind: str
    distance_m: float
    staff: int


class AlertDetail(BaseModel):
    alert: AlertPublic
    history: list[AlertChange]
    dispatches: list[DispatchPublic]
    headcounts: list[HeadcountPublic]
    headcount_totals: HeadcountIn
    building: str | None = Field(description="the alert's building on the site map")
    proposal: list[StationProposal] = Field(
        description="nearest stations of both kinds (offered once the fire is confirmed)"
    )


class DispatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stations: list[str] = Field(min_length=1, max_length=20)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    alert_id: int | None
    kind: str
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


# -- provisioning -------------------------------------------------------------------------

DeviceKind = Literal["checkout", "fire", "parking"]
SITE_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DeviceKind
    site: str = Field(pattern=SITE_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    device_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
        description="default: KIND-XXXXXXXX (random)",
    )


class ClaimTokenPublic(BaseModel):
    device_id: str
    claim_token: str = Field(description="one use; shown this once, stored only as a hash")
    expires_at: datetime


class Registered(ClaimTokenPublic):
    device: DevicePublic


class ConfigPublic(BaseModel):
    device_id: str
    version: int
    settings: dict[str, Any]
    issued_at: datetime
    issued_by: str

    @classmethod
    def from_row(cls, row: DeviceConfigRow) -> ConfigPublic:
        return cls(
            device_id=row.device_id,
            version=row.version,
            settings=row.settings,
            issued_at=as_utc(row.issued_at) or datetime.now(UTC),
            issued_by=row.issued_by,
        )


class ConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(
        description="sections the box validates (telemetry, heartbeat, checkout, fire)"
    )


class Revoked(BaseModel):
    device: DevicePublic
    broker_disabled: bool = Field(
        description="the broker account was disabled and its connection dropped (false when "
        "the broker runs without the security plugin, or the box never claimed)"
    )
