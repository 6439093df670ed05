"""Parking bays and studs, for the operations centre (operators) and viewers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.auth import OperatorOrViewer
from cloud.api.deps import ServicesDep, SessionDep
from cloud.api.parking_schemas import BayPublic, StudPublic
from cloud.storage import parking

router = APIRouter(prefix="/api/v1/parking", tags=["parking"])

Site = Annotated[str | None, Query(max_length=64)]


@router.get("/bays", response_model=list[BayPublic])
def list_bays(
    session: SessionDep, services: ServicesDep, who: OperatorOrViewer, site: Site = None
) -> list[BayPublic]:
    """Every bay: bikes against capacity, studs healthy of total, its place on the map."""
    site_map = services.site_map
    return [
        BayPublic.of(v, site_map.parking_bay(v.row.site, v.row.bay_id))
        for v in parking.list_bays(session, site=site)
    ]


@router.get("/studs", response_model=list[StudPublic])
def list_studs(
    session: SessionDep,
    who: OperatorOrViewer,
    site: Site = None,
    needs_maintenance: bool = False,
) -> list[StudPublic]:
    """Every stud's health, last seen and battery; ``needs_maintenance``: only those not ok."""
    rows = parking.list_studs(session, site=site, needs_maintenance=needs_maintenance)
    return [StudPublic.of(r) for r in rows]
