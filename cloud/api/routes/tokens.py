"""API tokens: operators create and revoke them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from cloud.api.auth import Operator
from cloud.api.deps import SessionDep
from cloud.api.params import SqlId
from cloud.api.schemas import TokenCreate, TokenCreated, TokenPublic
from cloud.storage import tokens

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=list[TokenPublic])
def list_tokens(session: SessionDep, who: Operator) -> list[TokenPublic]:
    return [TokenPublic.from_row(t) for t in tokens.list_tokens(session)]


@router.post("", response_model=TokenCreated, status_code=201, responses={422: {}})
def create_token(body: TokenCreate, session: SessionDep, who: Operator) -> TokenCreated:
    try:
        row, secret = tokens.create_token(
            session,
            name=body.name,
            role=body.role,
            station_id=body.station_id,
            created_by=who.label,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    session.commit()
    return TokenCreated(**TokenPublic.from_row(row).model_dump(), token=secret)


@router.delete("/{token_id}", status_code=204, responses={404: {}})
def revoke_token(token_id: SqlId, session: SessionDep, who: Operator) -> None:
    if not tokens.revoke_token(session, token_id=token_id):
        raise HTTPException(404, f"no live token {token_id}")
    session.commit()
