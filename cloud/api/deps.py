"""Dependencies the routes declare: the SQL session, the InfluxDB reader, the broker link."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.live import AlertHub
from cloud.alerts.site_map import SiteMap
from cloud.broker_link import BrokerLink
from cloud.config import CloudSettings
from cloud.storage.influx import InfluxReader


@dataclass
class Services:
    """What the app opens at start and closes at shutdown (``app.state.services``)."""

    settings: CloudSettings
    engine: Engine
    sessions: sessionmaker[Session]  # reading
    writers: sessionmaker[Session]  # requests that change something
    influx: InfluxReader
    broker: BrokerLink
    registry: CollectorRegistry
    site_map: SiteMap
    hub: AlertHub


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(request: Request, services: ServicesDep) -> Iterator[Session]:
    """A reader for GET and HEAD, a writer for the methods that change things."""
    factory = services.sessions if request.method in ("GET", "HEAD") else services.writers
    with factory() as session:
        yield session


def get_influx(services: ServicesDep) -> InfluxReader:
    return services.influx


def get_broker(services: ServicesDep) -> BrokerLink:
    return services.broker


SessionDep = Annotated[Session, Depends(get_session)]
BrokerDep = Annotated[BrokerLink, Depends(get_broker)]
InfluxDep = Annotated[InfluxReader, Depends(get_influx)]
