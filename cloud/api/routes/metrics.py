"""Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cloud.api.auth import Anyone
from cloud.api.deps import ServicesDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(services: ServicesDep, who: Anyone) -> Response:
    """Prometheus text; scrape it with a viewer token (``authorization`` in the scrape job)."""
    return Response(generate_latest(services.registry), media_type=CONTENT_TYPE_LATEST)
