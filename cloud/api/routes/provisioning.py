"""Provisioning: register a box (and its one-time claim token), the box's claim, config
push, revocation. Operators call all of it except the claim, whose credential is the
claim token itself."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.api.auth import Operator
from cloud.api.deps import BrokerDep, ServicesDep, SessionDep
from cloud.api.schemas import (
    ClaimTokenPublic,
    ConfigIn,
    ConfigPublic,
    DevicePublic,
    Registered,
    RegisterIn,
    Revoked,
)
from cloud.broker_link import BrokerUnavailable
from cloud.config import CloudSettings
from cloud.dynsec import DynsecError, DynsecUnavailable, provision_device, revoke_device
from cloud.storage import device_configs, registrations
from cloud.storage.fleet import fleet
from cloud.storage.registrations import ClaimRefusal, ClaimRefused, DeviceExists
from wire import DeviceConfig, encode
from wire.claim import CLAIM_PATH, BundleConfig, ClaimBundle, ClaimRequest, MqttAccess
from wire.codec import PayloadTooLarge
from wire.topics import DEVICE_ID_PATTERN, Channel, device_topic

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["provisioning"])

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]

_REFUSAL_STATUS = {
    ClaimRefusal.UNKNOWN: 401,
    ClaimRefusal.USED: 409,
    ClaimRefusal.EXPIRED: 410,
    ClaimRefusal.REVOKED: 403,
}


def _device(session: Session, device_id: str) -> DevicePublic:
    return DevicePublic.from_entry(fleet(session, device_id=device_id)[0], now=datetime.now(UTC))


def _ttl(settings: CloudSettings) -> timedelta:
    return timedelta(hours=settings.provisioning.claim_ttl_h)


@router.post("/devices", response_model=Registered, status_code=201, responses={409: {}})
def register(
    body: RegisterIn, session: SessionDep, services: ServicesDep, who: Operator
) -> Registered:
    """Register a box and issue its claim token (shown once)."""
    device_id = body.device_id or f"{body.kind}-{secrets.token_hex(4)}"
    try:
        registrations.register_device(
            session,
            device_id=device_id,
            kind=body.kind,
            site=body.site,
            name=body.name,
            by=who.label,
        )
        issued = registrations.issue_claim_token(
            session, device_id=device_id, ttl=_ttl(services.settings)
        )
        session.commit()
    except (DeviceExists, IntegrityError):
        session.rollback()
        raise HTTPException(409, f"device {device_id!r} is already registered") from None
    log.info("%s registered %s (%s at %s)", who.label, device_id, body.kind, body.site)
    return Registered(
        device_id=device_id,
        claim_token=issued.token,
        expires_at=issued.expires_at,
        device=_device(session, device_id),
    )


@router.post(
    "/devices/{device_id}/claim-token",
    response_model=ClaimTokenPublic,
    status_code=201,
    responses={404: {}, 409: {}},
)
def new_claim_token(
    device_id: DeviceId, session: SessionDep, services: ServicesDep, who: Operator
) -> ClaimTokenPublic:
    """A new claim token for a registered box (a lost token, or a replaced box); the
    box's earlier unused tokens stop working."""
    reg = registrations.get_registration(session, device_id=device_id)
    if reg is None:
        raise HTTPException(404, f"no registered device {device_id!r}")
    if reg.revoked_at is not None:
        raise HTTPException(409, f"device {device_id!r} is revoked")
    issued = registrations.issue_claim_token(
        session, device_id=device_id, ttl=_ttl(services.settings)
    )
    session.commit()
    log.info("%s issued a new claim token for %s", who.label, device_id)
    return ClaimTokenPublic(
        device_id=device_id, claim_token=issued.token, expires_at=issued.expires_at
    )


@router.post(
    CLAIM_PATH.removeprefix("/api/v1"),
    response_model=ClaimBundle,
    responses={401: {}, 403: {}, 409: {}, 410: {}, 503: {}},
)
def claim(
    body: ClaimRequest, session: SessionDep, services: ServicesDep, broker: BrokerDep
) -> ClaimBundle:
    """A box exchanges its claim token for its broker account, the broker's address and
    CA certificate, and its config. The token works once."""
    try:
        reg = registrations.use_claim_token(session, token=body.token)
    except ClaimRefused as refused:
        session.rollback()
        raise HTTPException(_REFUSAL_STATUS[refused.why], refused.why.value) from None
    password: str | None = None
    if broker.control is not None:
        password = secrets.token_urlsafe(24)
        try:
            provision_device(broker.control, device_id=reg.device_id, password=password)
        except (DynsecError, DynsecUnavailable) as exc:
            session.rollback()  # the token stays unspent: the box may try again
            log.error("claim of %s failed at the broker: %s", reg.device_id, exc)
            raise HTTPException(503, f"the broker could not create the account: {exc}") from None
    config = device_configs.current_config(session, device_id=reg.device_id)
    session.commit()
    log.info("device %s claimed", reg.device_id)
    settings = services.settings
    prov = settings.provisioning
    ca_cert = _read_ca(prov.device_ca_file)
    return ClaimBundle(
        device_id=reg.device_id,
        kind=reg.kind,
        site=reg.site,
        name=reg.name,
        mqtt=MqttAccess(
            host=prov.device_broker_host or settings.broker.host,
            port=prov.device_broker_port or settings.broker.port,
            username=reg.device_id if password else None,
            password=password,
            client_id=reg.device_id,
            tls=ca_cert is not None,
            ca_cert=ca_cert,
        ),
        config=BundleConfig(version=config.version, settings=config.settings) if config else None,
    )


def _read_ca(path: FilePath | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="ascii")
    except OSError as exc:
        log.error("cannot read the device CA certificate %s: %s", path, exc.strerror)
        raise HTTPException(503, "the device CA certificate is unreadable") from None


@router.post("/devices/{device_id}/revoke", response_model=Revoked, responses={404: {}, 503: {}})
def revoke(device_id: DeviceId, session: SessionDep, broker: BrokerDep, who: Operator) -> Revoked:
    """Disable the box's broker account (the broker drops its connection at once and
    refuses it from then on) and mark it revoked."""
    if registrations.get_registration(session, device_id=device_id) is None:
        raise HTTPException(404, f"no registered device {device_id!r}")
    disabled = False
    if broker.control is not None:
        try:
            disabled = revoke_device(broker.control, device_id=device_id)
        except (DynsecError, DynsecUnavailable) as exc:
            raise HTTPException(503, f"the broker could not disable the account: {exc}") from None
    registrations.mark_revoked(session, device_id=device_id, by=who.label)
    session.commit()
    log.warning("%s revoked device %s", who.label, device_id)
    return Revoked(device=_device(session, device_id), broker_disabled=disabled)


@router.post(
    "/devices/{device_id}/config",
    response_model=ConfigPublic,
    status_code=201,
    responses={404: {}, 409: {}, 413: {}, 422: {}, 503: {}},
)
def push_config(
    device_id: DeviceId, body: ConfigIn, session: SessionDep, broker: BrokerDep, who: Operator
) -> ConfigPublic:
    """Store the next config version and put it on the device's retained config topic;
    the box validates it and acknowledges (``config_version``) or refuses it with the
    reason (``config_rejected_reason``) in the fleet view."""
    if not fleet(session, device_id=device_id):
        raise HTTPException(404, f"no device {device_id!r}")
    reg = registrations.get_registration(session, device_id=device_id)
    if reg is not None and reg.revoked_at is not None:
        raise HTTPException(409, f"device {device_id!r} is revoked")
    try:
        row = device_configs.add_config(
            session, device_id=device_id, settings=body.settings, by=who.label
        )
        payload = encode(
            DeviceConfig(device_id=device_id, version=row.version, settings=body.settings)
        )
    except IntegrityError:
        session.rollback()
        raise HTTPException(409, "another config was pushed at the same time; retry") from None
    except PayloadTooLarge as exc:
        session.rollback()
        raise HTTPException(413, f"config too large to send: {exc}") from None
    except ValueError as exc:
        session.rollback()
        raise HTTPException(422, f"config cannot be sent: {exc}") from None
    try:
        broker.publish_retained(device_topic(device_id, Channel.CONFIG), payload)
    except BrokerUnavailable as exc:
        session.rollback()
        raise HTTPException(503, str(exc)) from None
    session.commit()
    log.info("%s pushed config version %d to %s", who.label, row.version, device_id)
    return ConfigPublic.from_row(row)


@router.get("/devices/{device_id}/config", response_model=ConfigPublic, responses={404: {}})
def get_config(device_id: DeviceId, session: SessionDep, who: Operator) -> ConfigPublic:
    """The config the device should run (the latest pushed)."""
    row = device_configs.current_config(session, device_id=device_id)
    if row is None:
        raise HTTPException(404, f"no config pushed to {device_id!r}")
    return ConfigPublic.from_row(row)
