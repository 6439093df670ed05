"""Registered boxes and their one-time claim tokens.

A claim token is shown once (to the operator who registers the box), stored only as a
SHA-256, used at most once, and expires. Using it is one conditional UPDATE, so two
boxes racing with the same token cannot both win.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud.storage.tables import ClaimToken, DeviceRegistration

CLAIM_PREFIX = "tsc_"  # a prefix that makes a leaked claim token easy to grep for


class ClaimRefusal(StrEnum):
    """Why a claim token does not work; the API answers each with its own status."""

    UNKNOWN = "unknown claim token"
    USED = "claim token already used"
    EXPIRED = "claim token expired"
    REVOKED = "device revoked"


class ClaimRefused(Exception):
    def __init__(self, why: ClaimRefusal) -> None:
        super().__init__(why.value)
        self.why = why


class DeviceExists(ValueError):
    """Registering a device id that is already registered."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Issued:
    token: str
    expires_at: datetime


def register_device(
    session: Session,
    *,
    device_id: str,
    kind: str,
    site: str,
    name: str | None,
    by: str,
) -> DeviceRegistration:
    if session.get(DeviceRegistration, device_id) is not None:
        raise DeviceExists(f"device {device_id!r} is already registered")
    row = DeviceRegistration(
        device_id=device_id,
        kind=kind,
        site=site,
        name=name or device_id,
        registered_at=datetime.now(UTC),
        registered_by=by,
    )
    session.add(row)
    session.flush()
    return row


def issue_claim_token(session: Session, *, device_id: str, ttl: timedelta) -> Issued:
    """A fresh token for ``device_id``; earlier unused ones stop working."""
    now = datetime.now(UTC)
    session.execute(
        update(ClaimToken)
        .where(ClaimToken.device_id == device_id, ClaimToken.used_at.is_(None))
        .values(expires_at=now)
    )
    token = CLAIM_PREFIX + secrets.token_urlsafe(24)
    session.add(
        ClaimToken(
            token_sha256=_digest(token), device_id=device_id, created_at=now, expires_at=now + ttl
        )
    )
    session.flush()
    return Issued(token, now + ttl)


def use_claim_token(session: Session, *, token: str) -> DeviceRegistration:
    """Spend ``token`` and mark its device claimed; raise :class:`ClaimRefused`.

    The caller commits only once the broker account exists, so a claim that fails
    half-way leaves the token unspent."""
    row = session.scalar(select(ClaimToken).where(ClaimToken.token_sha256 == _digest(token)))
    if row is None:
        raise ClaimRefused(ClaimRefusal.UNKNOWN)
    device = session.get(DeviceRegistration, row.device_id)
    if device is None or device.revoked_at is not None:
        raise ClaimRefused(ClaimRefusal.REVOKED)
    if row.used_at is not None:
        raise ClaimRefused(ClaimRefusal.USED)
    now = datetime.now(UTC)
    expires = _utc(row.expires_at)
    if expires is None or expires <= now:
        raise ClaimRefused(ClaimRefusal.EXPIRED)
    spent = session.execute(
        update(ClaimToken)
        .where(ClaimToken.id == row.id, ClaimToken.used_at.is_(None))
        .values(used_at=now)
    )
    if not spent.rowcount:  # type: ignore[attr-defined]
        raise ClaimRefused(ClaimRefusal.USED)
    device.claimed_at = now
    session.flush()
    return device


def mark_revoked(session: Session, *, device_id: str, by: str) -> DeviceRegistration | None:
    """Revoke the device and expire its unused claim tokens; None if not registered."""
    device = session.get(DeviceRegistration, device_id)
    if device is None:
        return None
    now = datetime.now(UTC)
    if device.revoked_at is None:
        device.revoked_at = now
        device.revoked_by = by
    session.execute(
        update(ClaimToken)
        .where(ClaimToken.device_id == device_id, ClaimToken.used_at.is_(None))
        .values(expires_at=now)
    )
    session.flush()
    return device


def get_registration(session: Session, *, device_id: str) -> DeviceRegistration | None:
    return session.get(DeviceRegistration, device_id)


def list_registrations(
    session: Session, *, site: str | None = None
) -> Sequence[DeviceRegistration]:
    query = select(DeviceRegistration).order_by(DeviceRegistration.device_id)
    if site is not None:
        query = query.where(DeviceRegistration.site == site)
    return session.scalars(query).all()
