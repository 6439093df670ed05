"""The FastAPI application: services opened in the lifespan, routers, error mapping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from cloud.alerts.live import AlertHub
from cloud.alerts.scheduler import AlertScheduler
from cloud.alerts.site_map import load_site_map
from cloud.api.deps import Services
from cloud.api.metrics import HttpMetrics, SqlCollector
from cloud.api.routes import (
    alerts,
    checkout,
    devices,
    health,
    metrics,
    parking,
    provisioning,
    records,
    telemetry,
    tokens,
)
from cloud.broker_link import BrokerLink
from cloud.config import BrokerConfig, CloudSettings, load_settings
from cloud.storage.influx import InfluxReader, InfluxRejected, InfluxUnavailable, InfluxWriter
from cloud.storage.sql import make_engine, session_factory, writer_factory

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

# Every router of the API (the access test walks these).
ROUTERS = (
    health.router,
    devices.router,
    telemetry.router,
    records.router,
    checkout.router,
    alerts.router,
    parking.router,
    tokens.router,
    provisioning.router,
    metrics.router,
)


def create_app(settings: CloudSettings | None = None) -> FastAPI:
    settings = settings or load_settings()
    registry = CollectorRegistry()
    http_metrics = HttpMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        site_map = load_site_map(settings.site_map)  # a wrong site map stops the start
        engine = make_engine(settings.sql.url)
        sessions = session_factory(engine)
        writers = writer_factory(engine)
        registry.register(SqlCollector(sessions))
        await asyncio.to_thread(_ensure_database, settings)
        hub = AlertHub(sessions)
        hub.bind(asyncio.get_running_loop())
        broker = BrokerLink(
            _broker_login(settings),
            on_alerts=hub.notify_threadsafe,
            security_admin=settings.dynsec is not None,
        )
        broker.start()
        scheduler = AlertScheduler(writers, site_map, settings.alerts, changed=broker.wake_alerts)
        scheduler.start()
        app.state.services = Services(
            settings=settings,
            engine=engine,
            sessions=sessions,
            writers=writers,
            influx=InfluxReader(settings.influx),
            broker=broker,
            registry=registry,
            site_map=site_map,
            hub=hub,
        )
        log.info(
            "API ready on http://%s:%d (site map: %d buildings, %d stations)",
            settings.http.host,
            settings.http.port,
            len(site_map.buildings),
            len(site_map.stations),
        )
        try:
            yield
        finally:
            await scheduler.stop()
            broker.stop()
            await app.state.services.influx.aclose()
            engine.dispose()

    app = FastAPI(
        title="Tianshan",
        version=version("tianshan"),
        summary="Devices, telemetry and records of the Tianshan Road IoT platform",
        lifespan=lifespan,
    )
    app.middleware("http")(http_metrics.middleware)
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(InfluxUnavailable)
    async def _influx_down(request: Request, exc: InfluxUnavailable) -> JSONResponse:
        return JSONResponse({"detail": f"time-series store unavailable: {exc}"}, status_code=503)

    @app.exception_handler(InfluxRejected)
    async def _influx_refused(request: Request, exc: InfluxRejected) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=502)

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    for path, page in PAGES.items():
        app.add_api_route(path, _page(page), methods=["GET"], include_in_schema=False)

    return app


#: The web pages, each a static file of ``WEB_DIR`` (their API calls carry the token).
PAGES = {
    "/": "index.html",
    "/checkout": "checkout.html",
    "/console": "console.html",
    "/station": "station.html",
    "/parking": "parking.html",
}


def _page(name: str) -> Callable[[], Awaitable[FileResponse]]:
    async def page() -> FileResponse:
        return FileResponse(WEB_DIR / name, media_type="text/html")

    page.__name__ = name.removesuffix(".html") + "_page"
    return page


def _broker_login(settings: CloudSettings) -> BrokerConfig:
    """With the security plugin, the API logs in as its admin (device accounts, configs)."""
    if settings.dynsec is None:
        return settings.broker
    return settings.broker.model_copy(
        update={
            "username": settings.dynsec.admin_username,
            "password": settings.dynsec.admin_password,
        }
    )


def _ensure_database(settings: CloudSettings) -> None:
    """Create the InfluxDB database if it is missing; a down InfluxDB is not fatal
    here (``/readyz`` reports it, queries answer 503)."""
    writer = InfluxWriter(settings.influx)
    try:
        writer.ensure_database()
    except (InfluxUnavailable, InfluxRejected) as exc:
        log.warning("cannot create InfluxDB database %s yet: %s", settings.influx.database, exc)
    finally:
        writer.close()
