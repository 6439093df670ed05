"""Telemetry from InfluxDB: by device, field and time range, raw or aggregated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from cloud.api.auth import Anyone
from cloud.api.deps import InfluxDep
from cloud.api.params import aware
from cloud.api.schemas import TelemetryPoint, TelemetryResponse, TelemetrySeries
from cloud.storage.telemetry import (
    WINDOW_PATTERN,
    Aggregate,
    TelemetryQuery,
    query_telemetry,
    window_seconds,
)
from wire.topics import DEVICE_ID_PATTERN

# InfluxDB keeps nanoseconds in 64 bits: times outside this range cannot be asked for.
INFLUX_EARLIEST = datetime(1677, 9, 22, tzinfo=UTC)
INFLUX_LATEST = datetime(2262, 4, 11, tzinfo=UTC)

router = APIRouter(prefix="/api/v1/telemetry", tags=["telemetry"])

MAX_WINDOWS = 100_000
# InfluxDB parses durations into 64-bit nanoseconds (about 15,250 weeks at most); a window
# longer than a year aggregates nothing a person would ask for, so that is the limit.
MAX_WINDOW_SECONDS = 366 * 86_400


@router.get("", response_model=TelemetryResponse, responses={422: {}, 503: {}})
async def get_telemetry(
    *,
    influx: InfluxDep,
    who: Anyone,
    field: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="Reading name")],
    device: Annotated[str | None, Query(pattern=DEVICE_ID_PATTERN)] = None,
    start: Annotated[
        datetime | None, Query(description="ISO 8601; default: one hour before end")
    ] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601, exclusive; default now")] = None,
    window: Annotated[
        str | None, Query(pattern=WINDOW_PATTERN, description="Aggregation window, e.g. 1m")
    ] = None,
    aggregate: Aggregate = "mean",
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> TelemetryResponse:
    end = aware(end) if end else datetime.now(UTC)
    # Checked before any arithmetic: near year 1 or 9999 it would overflow.
    if not INFLUX_EARLIEST < end <= INFLUX_LATEST:
        raise HTTPException(422, "end must lie within 1677-09-22 and 2262-04-11")
    start = aware(start) if start else end - timedelta(hours=1)
    if start < INFLUX_EARLIEST:
        raise HTTPException(422, "start must lie within 1677-09-22 and 2262-04-11")
    if start >= end:
        raise HTTPException(422, "start must be before end")
    if window and window_seconds(window) > MAX_WINDOW_SECONDS:
        raise HTTPException(422, "window must be at most 366d")
    if window and (end - start).total_seconds() / window_seconds(window) > MAX_WINDOWS:
        raise HTTPException(422, f"more than {MAX_WINDOWS} windows: widen the window")
    query = TelemetryQuery(
        field=field,
        start=start,
        end=end,
        device=device,
        window=window,
        aggregate=aggregate,
        limit=limit,
    )
    series, truncated = await query_telemetry(influx, query=query)
    return TelemetryResponse(
        field=field,
        start=start,
        end=end,
        window=window,
        aggregate=aggregate if window else None,
        truncated=truncated,
        series=[
            TelemetrySeries(
                device=s.device,
                tags=s.tags,
                points=[
                    TelemetryPoint(
                        time=datetime.fromtimestamp(p.ts_us / 1e6, UTC),
                        ts_us=p.ts_us,
                        value=p.value,
                    )
                    for p in s.points
                ],
            )
            for s in series
        ],
    )
