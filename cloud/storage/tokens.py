"""API tokens: create (the secret is shown once), look up by hash, revoke."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cloud.storage.tables import ApiToken

TOKEN_PREFIX = "tsn_"  # noqa: S105 (a prefix that makes leaked tokens easy to grep for)


class Role(StrEnum):
    OPERATOR = "operator"  # devices, provisioning, tokens, everything a viewer sees
    FIRE_TEAM = "fire_team"  # acknowledges, dispatches, resolves alerts
    STATION = "station"  # one micro fire station: acts on its own dispatches
    VIEWER = "viewer"  # reads


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    station_id: str | None = None,
    created_by: str | None = None,
) -> tuple[ApiToken, str]:
    """Returns the row and the token itself, which is not stored and cannot be shown again."""
    if (role is Role.STATION) != (station_id is not None):
        raise ValueError("a station token names its station, and only a station token does")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_sha256=digest(token),
        name=name,
        role=role.value,
        station_id=station_id,
        created_at=datetime.now(UTC),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row, token


# Writing last_used_at on every request would make each read a write; once a minute is enough.
_TOUCH_EVERY = timedelta(minutes=1)


def authenticate(session: Session, *, token: str) -> ApiToken | None:
    """The live token with this secret, or None (unknown or revoked)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    last = row.last_used_at
    if last is None or now - (last if last.tzinfo else last.replace(tzinfo=UTC)) > _TOUCH_EVERY:
        # Advisory: a busy database must not refuse a request over a "last used" stamp.
        try:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
            session.commit()
        except OperationalError:
            session.rollback()
    return row


def revoke_token(session: Session, *, token_id: int) -> bool:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_tokens(session: Session) -> Sequence[ApiToken]:
    return session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
