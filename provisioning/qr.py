"""The claim token as a QR code: for the terminal and as a PNG (segno: pure Python)."""

from __future__ import annotations

import io
from pathlib import Path

import segno

from wire.claim import claim_uri


def claim_qr(cloud_url: str, token: str) -> segno.QRCode:
    return segno.make(claim_uri(cloud_url, token), error="m")


def terminal_text(qr: segno.QRCode) -> str:
    out = io.StringIO()
    qr.terminal(out=out, compact=True)
    return out.getvalue()


def write_png(qr: segno.QRCode, path: Path) -> Path:
    """A PNG readable by the owner only: whoever holds it can claim the box."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    qr.save(str(path), kind="png", scale=8)
    return path
