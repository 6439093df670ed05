"""The fleet: registered devices and what the ingest last saw of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from cloud.api.auth import Anyone
from cloud.api.deps import SessionDep
from cloud.api.schemas import DevicePublic
from cloud.storage.fleet import fleet
from wire.topics import DEVICE_ID_PATTERN

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]


@router.get("", response_model=list[DevicePublic])
def list_devices(
    session: SessionDep,
    who: Anyone,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> list[DevicePublic]:
    now = datetime.now(UTC)
    return [DevicePublic.from_entry(e, now=now) for e in fleet(session, site=site)]


@router.get("/{device_id}", response_model=DevicePublic, responses={404: {}})
def get_device(session: SessionDep, who: Anyone, device_id: DeviceId) -> DevicePublic:
    found = fleet(session, device_id=device_id)
    if not found:
        raise HTTPException(404, f"no device {device_id!r}")
    return DevicePublic.from_entry(found[0], now=datetime.now(UTC))
