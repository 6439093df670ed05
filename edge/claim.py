"""``tianshan edge claim``: trade the one-time claim token for this box's broker account
and write a ready-to-run agent config. Every file written holds or guards a secret, so
every file is 0600 and the folder 0700."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import ValidationError

from edge.config import load_config
from wire.claim import CLAIM_PATH, ClaimBundle, parse_claim_uri


class ClaimError(RuntimeError):
    """The claim did not happen; ``str()`` says why (a used or expired token, …)."""


@dataclass(frozen=True)
class Claimed:
    bundle: ClaimBundle
    config_file: Path
    files: tuple[Path, ...]


def _toml(value: str) -> str:
    # A JSON string literal is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=False)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())


def render_config(bundle: ClaimBundle, directory: Path, *, ca_file: Path | None) -> str:
    mqtt = bundle.mqtt
    lines = [
        f"# Written by `tianshan edge claim` at {datetime.now(UTC).isoformat(timespec='seconds')}.",
        "# Holds this box's broker password: keep the file readable by its owner only.",
        f"state_dir = {_toml(str(directory / 'state'))}",
        "",
        "[device]",
        f"id = {_toml(bundle.device_id)}",
        f"kind = {_toml(bundle.kind)}",
        f"site = {_toml(bundle.site)}",
        "",
        "[mqtt]",
        f"host = {_toml(mqtt.host)}",
        f"port = {mqtt.port}",
    ]
    if mqtt.username is not None:
        lines.append(f"username = {_toml(mqtt.username)}")
    if mqtt.password is not None:
        lines.append(f"password = {_toml(mqtt.password)}")
    if ca_file is not None:
        lines += ["", "[mqtt.tls]", f"ca_file = {_toml(str(ca_file))}"]
    lines += ["", "[outbox]", f"path = {_toml(str(directory / 'outbox.sqlite'))}"]
    if bundle.kind == "checkout":
        lines += [
            "",
            "# The camera and kiosk: adjust to the box (see docs/edge-agent.example.toml).",
            "[checkout]",
            'source = "camera:0"',
        ]
    elif bundle.kind == "fire":
        lines += ["", "# Add [fire] links, detectors and zones (docs/edge-agent.example.toml)."]
    return "\n".join(lines) + "\n"


def claim(
    cloud_url: str | None,
    token: str,
    directory: Path,
    *,
    overwrite: bool = False,
    timeout_s: float = 15.0,
) -> Claimed:
    """Claim, then write ``edge.toml`` (and ``ca.pem``, ``first-config.json``) into
    ``directory``. ``token`` may be the QR code's ``tianshan-claim:`` URI, which names
    the cloud itself."""
    try:
        scanned_cloud, token = parse_claim_uri(token)
    except ValueError as exc:
        raise ClaimError(str(exc)) from None
    cloud = cloud_url or scanned_cloud
    if not cloud:
        raise ClaimError("which cloud? pass --cloud URL (or scan the QR code's URI)")
    config_file = directory / "edge.toml"
    if config_file.exists() and not overwrite:
        # Checked before the call: a spent token must not be lost on a file we cannot write.
        raise ClaimError(f"{config_file} exists; --force replaces it")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    url = cloud.rstrip("/") + CLAIM_PATH
    try:
        response = httpx.post(url, json={"token": token}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise ClaimError(f"cannot reach the cloud at {cloud}: {exc}") from None
    if response.is_error:
        try:
            detail = response.json().get("detail")
        except (ValueError, AttributeError):
            detail = response.text[:200]
        raise ClaimError(f"the cloud refused the claim: {detail} (HTTP {response.status_code})")
    try:
        bundle = ClaimBundle.model_validate_json(response.content)
    except ValidationError as exc:
        raise ClaimError(f"the cloud's answer is not a claim bundle: {exc}") from None
    written: list[Path] = []
    ca_file = None
    if bundle.mqtt.ca_cert:
        ca_file = directory / "ca.pem"
        _write_private(ca_file, bundle.mqtt.ca_cert)
        written.append(ca_file)
    if bundle.config is not None:
        first = directory / "first-config.json"
        _write_private(first, bundle.config.model_dump_json(indent=1))
        written.append(first)
    _write_private(config_file, render_config(bundle, directory, ca_file=ca_file))
    written.append(config_file)
    try:
        load_config(config_file)  # the file we wrote must start the agent
    except (ValueError, OSError) as exc:
        raise ClaimError(f"claimed, but the config written is not valid: {exc}") from None
    return Claimed(bundle, config_file, tuple(written))
