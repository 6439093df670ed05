"""Configs pushed to devices: every version kept, the highest one is current."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.storage.tables import DeviceConfigRow


def add_config(
    session: Session, *, device_id: str, settings: Mapping[str, Any], by: str
) -> DeviceConfigRow:
    """The next version for ``device_id``. Two pushes racing for the same version: the
    loser's flush fails on the primary key (IntegrityError) and it may try again."""
    current = session.scalar(
        select(func.max(DeviceConfigRow.version)).where(DeviceConfigRow.device_id == device_id)
    )
    row = DeviceConfigRow(
        device_id=device_id,
        version=(current or 0) + 1,
        settings=dict(settings),
        issued_at=datetime.now(UTC),
        issued_by=by,
    )
    session.add(row)
    session.flush()
    return row


def current_config(session: Session, *, device_id: str) -> DeviceConfigRow | None:
    return session.scalar(
        select(DeviceConfigRow)
        .where(DeviceConfigRow.device_id == device_id)
        .order_by(DeviceConfigRow.version.desc())
        .limit(1)
    )


def current_versions(session: Session) -> dict[str, int]:
    """device id → the version it should run."""
    rows = session.execute(
        select(DeviceConfigRow.device_id, func.max(DeviceConfigRow.version)).group_by(
            DeviceConfigRow.device_id
        )
    ).all()
    return {device_id: int(version) for device_id, version in rows}
