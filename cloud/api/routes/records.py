"""Events and rejected messages, from SQL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.auth import Anyone, Operator
from cloud.api.deps import SessionDep
from cloud.api.schemas import EventPublic, RejectedPublic
from cloud.storage import events, rejects
from wire.topics import DEVICE_ID_PATTERN

router = APIRouter(prefix="/api/v1", tags=["records"])


@router.get("/events", response_model=list[EventPublic])
def list_events(
    session: SessionDep,
    who: Anyone,
    device: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN)] = None,
    type_prefix: Annotated[str | None, Query(max_length=128, description="e.g. fire.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventPublic]:
    """Newest first."""
    rows = events.list_events(session, device_id=device, type_prefix=type_prefix, limit=limit)
    return [EventPublic.from_row(r) for r in rows]


@router.get("/rejected", response_model=list[RejectedPublic])
def list_rejected(
    session: SessionDep,
    who: Operator,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RejectedPublic]:
    """Messages the ingest refused, newest first, with the reason and the payload."""
    return [
        RejectedPublic.from_row(r)
        for r in rejects.list_rejections(session, reason=reason, limit=limit)
    ]
