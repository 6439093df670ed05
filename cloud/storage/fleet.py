"""The fleet as an operator sees it: what was registered, joined with what the ingest
heard, the config each device should run and the model it last billed with."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cloud.storage.device_configs import current_versions
from cloud.storage.tables import CheckoutTransactionRow, Device, DeviceRegistration


@dataclass(frozen=True)
class FleetEntry:
    device_id: str
    registration: DeviceRegistration | None  # None: heard from, never registered
    device: Device | None  # None: registered, never heard from
    desired_config_version: int | None
    model_version: str | None


def _latest_models(session: Session, device_ids: list[str]) -> dict[str, str | None]:
    if not device_ids:
        return {}
    newest = (
        select(
            CheckoutTransactionRow.device_id.label("device_id"),
            func.max(CheckoutTransactionRow.ts).label("ts"),
        )
        .where(CheckoutTransactionRow.device_id.in_(device_ids))
        .group_by(CheckoutTransactionRow.device_id)
        .subquery()
    )
    rows = session.execute(
        select(CheckoutTransactionRow.device_id, CheckoutTransactionRow.model_version).join(
            newest,
            (CheckoutTransactionRow.device_id == newest.c.device_id)
            & (CheckoutTransactionRow.ts == newest.c.ts),
        )
    ).all()
    return {str(device_id): model for device_id, model in rows}


def fleet(
    session: Session, *, site: str | None = None, device_id: str | None = None
) -> list[FleetEntry]:
    registrations = select(DeviceRegistration)
    devices = select(Device)
    if device_id is not None:
        registrations = registrations.where(DeviceRegistration.device_id == device_id)
        devices = devices.where(Device.device_id == device_id)
    if site is not None:
        registrations = registrations.where(DeviceRegistration.site == site)
    by_reg = {r.device_id: r for r in session.scalars(registrations).all()}
    if site is not None:
        # A registered box belongs to its registered site even before its first heartbeat.
        devices = devices.where(or_(Device.site == site, Device.device_id.in_(list(by_reg))))
    by_dev = {d.device_id: d for d in session.scalars(devices).all()}
    ids = sorted(by_reg.keys() | by_dev.keys())
    desired = current_versions(session)
    models = _latest_models(session, ids)
    return [
        FleetEntry(
            device_id=i,
            registration=by_reg.get(i),
            device=by_dev.get(i),
            desired_config_version=desired.get(i),
            model_version=models.get(i),
        )
        for i in ids
    ]
