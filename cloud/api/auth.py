"""Who is calling: a bearer token with a role. Routes declare the roles they accept.

@router.post("/alerts/{id}/acknowledge")
def acknowledge(who: FireTeam, ...): ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud.api.deps import SessionDep
from cloud.storage.tokens import Role, authenticate

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer tsn_…`")


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: Role
    station_id: str | None

    @property
    def label(self) -> str:
        """How the audit log names this caller."""
        return f"{self.role.value}:{self.name}"


def current_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an API token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    row = authenticate(session, token=credentials.credentials)
    if row is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or revoked API token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Principal(row.id, row.name, Role(row.role), row.station_id)


def allow(*roles: Role) -> object:
    """A dependency that lets only ``roles`` through (403 for the others)."""

    def check(who: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if who.role not in roles:
            needed = ", ".join(r.value for r in roles)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {who.role.value} may not do this (needs {needed})"
            )
        return who

    check.roles = frozenset(roles)  # type: ignore[attr-defined]  # read by the route audit test
    return Depends(check)


# Routes anyone may call without a token; everything else must declare its roles.
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/",
        "/checkout",
        "/console",
        "/station",
        "/parking",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        # A box's one call: its credential is the one-time claim token in the body.
        "/api/v1/claim",
    }
)

Anyone = Annotated[Principal, allow(*Role)]
Operator = Annotated[Principal, allow(Role.OPERATOR)]
FireTeam = Annotated[Principal, allow(Role.FIRE_TEAM)]
Station = Annotated[Principal, allow(Role.STATION)]
FireTeamOrStation = Annotated[Principal, allow(Role.FIRE_TEAM, Role.STATION)]
FireTeamOrOperator = Annotated[Principal, allow(Role.FIRE_TEAM, Role.OPERATOR)]
OperatorOrViewer = Annotated[Principal, allow(Role.OPERATOR, Role.VIEWER)]
