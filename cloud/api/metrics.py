"""Prometheus metrics of the API process, including what the ingest recorded in SQL
(so /metrics counts rejections across every ingest worker)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from cloud.api.schemas import DevicePublic
from cloud.storage.devices import list_devices
from cloud.storage.rejects import count_by_reason

log = logging.getLogger(__name__)


class SqlCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        try:
            with self._sessions() as session:
                by_reason = count_by_reason(session)
                now = datetime.now(UTC)
                devices = [DevicePublic.from_row(d, now=now) for d in list_devices(session)]
        except Exception:  # a scrape must not fail because SQL hiccups
            log.exception("cannot read SQL for /metrics")
            return
        rejected = CounterMetricFamily(
            "tianshan_rejected_messages",
            "Messages the ingest rejected (every delivery), by reason",
            labels=["reason"],
        )
        for reason, count in sorted(by_reason.items()):
            rejected.add_metric([reason], count)
        yield rejected
        states = {"online": 0, "offline": 0, "silent": 0}
        for d in devices:
            if d.silent:
                states["silent"] += 1
            elif d.online:
                states["online"] += 1
            else:
                states["offline"] += 1
        gauge = GaugeMetricFamily("tianshan_devices", "Known devices by state", labels=["state"])
        for state, count in states.items():
            gauge.add_metric([state], count)
        yield gauge


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tianshan_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "tianshan_http_request_seconds", "HTTP request time", ["route"], registry=registry
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, not the raw path: device ids must not explode the labels.
        name = getattr(route, "path", "unmatched")
        self.requests.labels(request.method, name, str(response.status_code)).inc()
        self.seconds.labels(name).observe(time.perf_counter() - started)
        return response
