"""The cloud's provisioning API as the operator's tools call it, with errors a person
can act on (which URL, which status, the cloud's own reason)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

TOKEN_ENV = "TIANSHAN_API_TOKEN"  # noqa: S105 (the variable's name, not a secret)
CLOUD_ENV = "TIANSHAN_CLOUD_URL"
DEFAULT_CLOUD = "http://127.0.0.1:8000"


class CloudError(RuntimeError):
    """The cloud could not be reached or refused the request; ``str()`` says why."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _reason(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI's validation errors
        detail = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
        )
    return str(detail) if detail else response.text[:200] or response.reason_phrase


class CloudClient:
    def __init__(self, base_url: str, token: str | None, *, timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def __enter__(self) -> CloudClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, *, json: object = None) -> Any:
        try:
            response = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise CloudError(f"cannot reach the cloud at {self.base_url}: {exc}") from None
        if response.status_code == 401:
            raise CloudError(
                f"the cloud refused the API token ({_reason(response)}); pass --token or set"
                f" {TOKEN_ENV} to an operator token",
                status=401,
            )
        if response.status_code == 403:
            raise CloudError(f"not allowed: {_reason(response)}", status=403)
        if response.is_error:
            raise CloudError(
                f"{method} {path}: HTTP {response.status_code}: {_reason(response)}",
                status=response.status_code,
            )
        return response.json() if response.content else None

    def register(
        self, *, kind: str, site: str, name: str | None = None, device_id: str | None = None
    ) -> dict[str, Any]:
        body = {"kind": kind, "site": site, "name": name, "device_id": device_id}
        result: dict[str, Any] = self._call(
            "POST", "/api/v1/devices", json={k: v for k, v in body.items() if v is not None}
        )
        return result

    def new_claim_token(self, device_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/api/v1/devices/{device_id}/claim-token")
        return result

    def devices(self, *, site: str | None = None) -> list[dict[str, Any]]:
        path = "/api/v1/devices" + (f"?site={site}" if site else "")
        result: list[dict[str, Any]] = self._call("GET", path)
        return result

    def revoke(self, device_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/api/v1/devices/{device_id}/revoke")
        return result

    def push_config(self, device_id: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/api/v1/devices/{device_id}/config", json={"settings": dict(settings)}
        )
        return result
