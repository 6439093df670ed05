"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from sqlalchemy import text

from cloud.api.deps import ServicesDep
from cloud.api.schemas import Check, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it does not look at its dependencies)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(services: ServicesDep, response: Response) -> Readiness:
    """Ready to serve: the broker connection is up, InfluxDB answers, SQL answers."""

    def sql_ok() -> bool:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    try:
        sql = Check(ok=await asyncio.to_thread(sql_ok), detail="SELECT 1 answered")
    except Exception as exc:  # noqa: BLE001 (any failure is "not ready", with what it was)
        sql = Check(ok=False, detail=f"{type(exc).__name__}: {str(exc)[:200]}")
    influx_up = await services.influx.ping()
    checks = {
        "broker": Check(
            ok=services.broker.connected,
            detail="connected" if services.broker.connected else "not connected",
        ),
        "influxdb": Check(ok=influx_up, detail="ping answered" if influx_up else "no answer"),
        "sql": sql,
    }
    ready = all(c.ok for c in checks.values())
    if not ready:
        response.status_code = 503
    return Readiness(status="ready" if ready else "not ready", checks=checks)
