"""Every route refuses a request without a token (401) and one of a role it does not
accept (403): derived from the app itself, so a new route cannot slip through."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cloud.api.app import ROUTERS, create_app
from cloud.api.auth import PUBLIC_PATHS
from cloud.api.deps import get_session
from cloud.config import CloudSettings
from cloud.storage.tokens import Role
from tests.conftest import Service

pytestmark = pytest.mark.integration

PLACEHOLDERS = {"device_id": "box-1", "token_id": "999999"}


def roles_of(dependant: Dependant) -> frozenset[Role] | None:
    for dep in dependant.dependencies:
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            return frozenset(roles)
        found = roles_of(dep)
        if found is not None:
            return found
    return None


def routes(settings: CloudSettings) -> Iterator[tuple[str, str, frozenset[Role] | None]]:
    """(method, path, roles) of every HTTP route; cross-checked against the OpenAPI paths
    so that a route registered some other way cannot be missed."""
    app = create_app(settings)
    ours = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    ours += [r for r in app.routes if isinstance(r, APIRoute)]
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    enumerated = {(m, r.path) for r in ours for m in (r.methods or set()) - {"HEAD"}}
    assert documented <= enumerated, documented - enumerated
    for route in ours:
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield method, route.path, roles_of(route.dependant)


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), "x"), path)


def test_every_route_is_public_on_purpose_or_declares_its_roles(
    cloud_settings: CloudSettings,
) -> None:
    seen = list(routes(cloud_settings))
    assert len(seen) > 10
    for method, path, roles in seen:
        if roles is None:
            assert path in PUBLIC_PATHS, f"{method} {path} declares no roles and is not public"


def test_every_route_refuses_no_token_and_wrong_roles(
    api: Service, cloud_settings: CloudSettings
) -> None:
    checked = 0
    for method, path, roles in routes(cloud_settings):
        if roles is None:
            continue
        url = concrete(path)
        body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None
        with api.client(role="") as anonymous:
            response = anonymous.request(method, url, json=body)
            assert response.status_code == 401, f"{method} {path} without a token"
        with api.client(role="viewer", headers={"Authorization": "Bearer tsn_not-a-token"}) as c:
            assert c.request(method, url, json=body).status_code == 401, (
                f"{method} {path} bad token"
            )
        for role in Role:
            with api.client(role.value) as client:
                status = client.request(method, url, json=body).status_code
            if role in roles:
                assert status not in (401, 403), f"{method} {path} refused {role} ({status})"
            else:
                assert status == 403, f"{method} {path} let {role} through ({status})"
            checked += 1
    assert checked >= 40


def test_a_revoked_token_is_refused(api: Service) -> None:
    with api.client("operator") as operator:
        made = operator.post("/api/v1/tokens", json={"name": "temp", "role": "viewer"})
        assert made.status_code == 201
        secret, token_id = made.json()["token"], made.json()["id"]
        assert secret.startswith("tsn_")
        listed = operator.get("/api/v1/tokens").json()
        assert all("token" not in t for t in listed)  # secrets are never listed
        with api.client(role="", headers={"Authorization": f"Bearer {secret}"}) as temp:
            assert temp.get("/api/v1/devices").status_code == 200
            assert operator.delete(f"/api/v1/tokens/{token_id}").status_code == 204
            assert temp.get("/api/v1/devices").status_code == 401
        assert operator.delete(f"/api/v1/tokens/{token_id}").status_code == 404
        bad = operator.post("/api/v1/tokens", json={"name": "s", "role": "station"})
        assert bad.status_code == 422  # a station token must name its station


def test_the_claim_route_is_public_but_its_claim_token_is_its_credential(api: Service) -> None:
    """The one route devices call has no role: it refuses anything but a live claim token."""
    assert "/api/v1/claim" in PUBLIC_PATHS
    with api.client(role="") as anonymous:
        assert anonymous.post("/api/v1/claim", json={}).status_code == 422
        refused = anonymous.post("/api/v1/claim", json={"token": "tsc_not-a-token"})
        assert refused.status_code == 401
        assert refused.json()["detail"] == "unknown claim token"
    with api.client("operator") as operator:  # an API token is no claim token either
        assert (
            operator.post("/api/v1/claim", json={"token": api.tokens["operator"]}).status_code
            == 401
        )


def _async_session_takers(dependant: Dependant) -> Iterator[str]:
    """Names of the ``async def`` callables in ``dependant``'s tree that take a SQL session
    themselves."""
    takes = any(d.call is get_session for d in dependant.dependencies)
    if takes and inspect.iscoroutinefunction(dependant.call):
        yield getattr(dependant.call, "__name__", repr(dependant.call))
    for d in dependant.dependencies:
        yield from _async_session_takers(d)


def test_no_route_does_sql_on_the_event_loop() -> None:
    """A route, or a dependency of one, that takes a SQL session must be a plain function,
    which FastAPI runs in its thread pool: in an ``async def`` its queries and commits (and
    on SQLite a wait for the write lock) would hold up every other request of the process."""
    ours = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    on_the_loop = [
        f"{sorted(r.methods or ())} {r.path}: {name}"
        for r in ours
        for name in _async_session_takers(r.dependant)
    ]
    assert ours
    assert on_the_loop == []
