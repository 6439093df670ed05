"""InfluxDB over its 1.x-compatible HTTP API: ``POST /write`` (line protocol) and
``/query`` (InfluxQL). The same two paths work on InfluxDB 1.x (user and password),
2.x (token; DBRP mapping) and 3.x (token).

A write either succeeded (204: InfluxDB has fsynced its WAL) or raised. The ingest
acknowledges MQTT messages only after a write returned; nothing is buffered here.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from cloud.config import InfluxConfig

log = logging.getLogger(__name__)


class InfluxError(RuntimeError):
    """Base of InfluxDB failures."""


class InfluxUnavailable(InfluxError):
    """Not reachable, overloaded, or not authorised: retry later; the data is fine."""


class InfluxRejected(InfluxError):
    """InfluxDB refused the data itself (HTTP 400, e.g. a field type conflict); the
    points it could parse were written, the rest were not. Retrying will not help."""


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]] = field(default_factory=list)


def _auth_headers(cfg: InfluxConfig) -> dict[str, str]:
    """Headers that authenticate against 1.x (user, password) or 2.x/3.x (token).

    Credentials go in a header, never in the query string: URLs end up in logs.
    """
    if cfg.token is not None:
        return {"Authorization": f"Token {cfg.token.get_secret_value()}"}
    if cfg.username is not None:
        password = cfg.password.get_secret_value() if cfg.password else ""
        basic = base64.b64encode(f"{cfg.username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {}


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code < 300:
        return
    text = response.text[:500]
    if response.status_code == 400:
        raise InfluxRejected(f"InfluxDB refused the {what}: {text}")
    raise InfluxUnavailable(f"InfluxDB {what} failed with HTTP {response.status_code}: {text}")


def parse_results(body: dict[str, Any]) -> list[Series]:
    """Series of the first statement's result; raises on an InfluxQL error."""
    results = body.get("results") or [{}]
    first = results[0]
    if "error" in first:
        raise InfluxRejected(f"InfluxQL error: {first['error']}")
    return [
        Series(
            name=s.get("name", ""),
            tags=s.get("tags") or {},
            columns=s.get("columns", []),
            values=s.get("values", []),
        )
        for s in first.get("series", [])
    ]


class InfluxWriter:
    """Blocking writer for the ingest's writer thread."""

    def __init__(self, cfg: InfluxConfig) -> None:
        self.cfg = cfg
        headers = _auth_headers(cfg)
        self._write_params = {"db": cfg.database, "precision": "ns"}
        if cfg.retention_policy:
            self._write_params["rp"] = cfg.retention_policy
        self._client = httpx.Client(base_url=cfg.url, headers=headers, timeout=cfg.timeout_s)

    def write(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        body = "\n".join(lines).encode()
        try:
            response = self._client.post("/write", params=self._write_params, content=body)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB write failed: {exc!r}") from None
        _raise_for(response, "write")

    def ensure_database(self) -> None:
        if not self.cfg.create_database:
            return
        try:
            response = self._client.post(
                "/query", params={"q": f'CREATE DATABASE "{self.cfg.database}"'}
            )
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB unreachable: {exc!r}") from None
        _raise_for(response, "CREATE DATABASE")

    def ping(self) -> bool:
        try:
            return self._client.get("/ping", timeout=2.0).status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()


class InfluxReader:
    """Async InfluxQL reader for the API."""

    def __init__(self, cfg: InfluxConfig) -> None:
        self.cfg = cfg
        headers = _auth_headers(cfg)
        self._client = httpx.AsyncClient(base_url=cfg.url, headers=headers, timeout=cfg.timeout_s)

    async def query(self, influxql: str) -> list[Series]:
        params = {"db": self.cfg.database, "q": influxql, "epoch": "u"}
        if self.cfg.retention_policy:
            params["rp"] = self.cfg.retention_policy
        try:
            response = await self._client.post("/query", params=params)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB query failed: {exc!r}") from None
        _raise_for(response, "query")
        return parse_results(response.json())

    async def ping(self) -> bool:
        try:
            response = await self._client.get("/ping", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 204

    async def aclose(self) -> None:
        await self._client.aclose()
