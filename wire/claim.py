"""The claim: a box trades its one-time claim token for its broker account (HTTP, the one
API call a device makes). The operator hands the token over as text or as a QR code of
:func:`claim_uri`."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field

CLAIM_PATH = "/api/v1/claim"
CLAIM_SCHEME = "tianshan-claim"


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="the claim token (tsc_…)")


class MqttAccess(BaseModel):
    host: str
    port: int = Field(ge=1, le=65535)
    username: str | None = Field(description="null when the broker takes anonymous devices")
    password: str | None
    client_id: str
    tls: bool
    ca_cert: str | None = Field(description="PEM of the CA that signed the broker's certificate")


class BundleConfig(BaseModel):
    """The config the box should run (it arrives again on the retained config topic)."""

    version: int = Field(ge=1)
    settings: dict[str, Any]


class ClaimBundle(BaseModel):
    device_id: str
    kind: str
    site: str
    name: str
    mqtt: MqttAccess
    config: BundleConfig | None = Field(description="the config the box should run, if any")


def claim_uri(cloud_url: str, token: str) -> str:
    """What the QR code holds: the cloud to call and the token to present."""
    return f"{CLAIM_SCHEME}:?{urlencode({'cloud': cloud_url, 'token': token})}"


def parse_claim_uri(text: str) -> tuple[str | None, str]:
    """(cloud URL or None, token) from a scanned QR code, or from a bare token."""
    parts = urlsplit(text.strip())
    if parts.scheme != CLAIM_SCHEME:
        return None, text.strip()
    query = parse_qs(parts.query)
    token = query.get("token", [""])[0]
    if not token:
        raise ValueError(f"{CLAIM_SCHEME} URI without a token")
    return query.get("cloud", [None])[0], token
