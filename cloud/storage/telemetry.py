"""Telemetry queries: validated parameters → InfluxQL → series of points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cloud.storage.influx import InfluxReader
from cloud.storage.line_protocol import TELEMETRY

Aggregate = Literal["mean", "min", "max", "sum", "count", "first", "last", "median", "spread"]

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
WINDOW_PATTERN = r"^[1-9][0-9]{0,5}(ms|s|m|h|d|w)$"


def window_seconds(window: str) -> float:
    unit = "ms" if window.endswith("ms") else window[-1]
    return int(window[: -len(unit)]) * _UNIT_SECONDS[unit]


@dataclass(frozen=True, slots=True)
class Point:
    ts_us: int
    value: float | None


@dataclass(frozen=True, slots=True)
class SeriesResult:
    device: str
    tags: dict[str, str]
    points: list[Point]


@dataclass(frozen=True, slots=True)
class TelemetryQuery:
    """Already validated: ``field``, ``device`` and ``window`` match the wire patterns."""

    field: str
    start: datetime
    end: datetime
    device: str | None = None
    window: str | None = None
    aggregate: Aggregate = "mean"
    limit: int = 10_000

    def influxql(self) -> str:
        where = f"time >= '{_rfc3339(self.start)}' AND time < '{_rfc3339(self.end)}'"
        if self.device is not None:
            where += f" AND \"device\" = '{_literal(self.device)}'"
        # InfluxQL from validated parts, identifiers and literals quoted (hence noqa S608).
        field = _identifier(self.field)
        limit = f"LIMIT {self.limit + 1}"
        if self.window is None:
            # Raw points, one series per device and tag set.
            select = f'SELECT {field} FROM "{TELEMETRY}" WHERE {where}'  # noqa: S608
            return f"{select} GROUP BY * ORDER BY time ASC {limit}"
        select = f'SELECT {self.aggregate}({field}) FROM "{TELEMETRY}" WHERE {where}'  # noqa: S608
        return f'{select} GROUP BY time({self.window}), "device" fill(none) {limit}'


async def query_telemetry(
    reader: InfluxReader, *, query: TelemetryQuery
) -> tuple[list[SeriesResult], bool]:
    """Series (ordered by device), and whether any was cut at ``query.limit``."""
    truncated = False
    out: list[SeriesResult] = []
    for series in await reader.query(query.influxql()):
        rows = series.values
        if len(rows) > query.limit:
            truncated = True
            rows = rows[: query.limit]
        tags = {k: v for k, v in series.tags.items() if v != ""}
        device = tags.pop("device", "")
        out.append(SeriesResult(device, tags, [Point(int(r[0]), r[1]) for r in rows]))
    out.sort(key=lambda s: (s.device, sorted(s.tags.items())))
    return out, truncated


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _identifier(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
