"""schemathesis against the running API's own OpenAPI document: generated requests to
every documented operation, each with a token of a role that operation accepts (so the
requests get past the door and reach the route), must never get a server error.

Bounded: a fixed number of examples per operation, no example database.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from cloud.config import CloudSettings
from cloud.ingest.worker import IngestWorker
from cloud.storage.tokens import Role
from tests.conftest import Service
from tests.integration.test_api_access import routes
from tests.secure_stack import broker, cloud_settings, dynsec_setup, pki  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES_PER_OPERATION = 25
# Revoking API tokens by generated id would revoke the very tokens this test calls with.
SKIPPED = {("DELETE", "/api/v1/tokens/{token_id}")}
# Whom to send when an operation accepts several roles: the one that can do the most.
PREFERENCE = (Role.OPERATOR, Role.FIRE_TEAM, Role.STATION, Role.VIEWER)


def test_generated_requests_get_no_server_error(
    api: Service,
    ingest: IngestWorker,
    cloud_settings: CloudSettings,  # noqa: F811
) -> None:
    accepted = {(m, p): roles for m, p, roles in routes(cloud_settings)}
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    server_errors: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document has an invalid operation: {result}"
        operations.append(result.ok())
    assert len(operations) > 20

    def exercise(operation: Any, label: str, headers: dict[str, str]) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def one(case: schemathesis.Case[Any]) -> None:
            response = case.call(base_url=api.base_url, headers=headers, timeout=15)
            statuses[label][response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{label} -> {response.status_code}: {response.text[:200]}\n"
                    f"  {case.as_curl_command(headers=headers)}"
                )

        one()

    for operation in operations:
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED:
            continue
        roles = accepted[key]
        headers = {}
        if roles is not None:
            role = next(r for r in PREFERENCE if r in roles)
            headers["Authorization"] = f"Bearer {api.tokens[role.value]}"
        label = f"{key[0]} {key[1]}"

        exercise(operation, label, headers)

    failing = sorted({e.split(" -> ")[0] for e in server_errors})
    assert not server_errors, f"server errors on {failing}:\n" + "\n".join(server_errors[:10])
    called = {label for label, seen in statuses.items() if sum(seen.values())}
    assert len(called) == len(operations) - len(SKIPPED)
    # Really through the door: every operation that takes a role token answered something
    # other than 401/403 (the claim's credential is the claim token: 401 is its answer).
    guarded = {f"{m} {p}" for (m, p), roles in accepted.items() if roles is not None}
    reached = {label for label, seen in statuses.items() if any(s not in (401, 403) for s in seen)}
    assert guarded & called <= reached, sorted((guarded & called) - reached)
    succeeded = {label for label, seen in statuses.items() if any(s < 300 for s in seen)}
    print(f"{len(called)} operations, {len(succeeded)} answered 2xx at least once")
    print({label: dict(seen) for label, seen in sorted(statuses.items())})
    assert len(succeeded) >= len(called) // 2
