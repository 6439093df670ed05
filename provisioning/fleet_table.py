"""The fleet as a table for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

COLUMNS = ("device", "kind", "site", "state", "last seen", "software", "model", "config")


def _ago(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never"
    seconds = (now - datetime.fromisoformat(iso)).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def _config(device: dict[str, Any]) -> str:
    running, wanted = device.get("config_version"), device.get("config_current_version")
    text = "-" if running is None else f"v{running}"
    if device.get("config_drift"):
        text += f" (DRIFT: current v{wanted})"
    rejected = device.get("config_rejected_version")
    if rejected is not None and rejected == wanted:
        text += f" rejected: {device.get('config_rejected_reason') or '?'}"
    return text


def fleet_rows(
    devices: Sequence[dict[str, Any]], *, now: datetime | None = None
) -> list[tuple[str, ...]]:
    now = now or datetime.now(UTC)
    return [
        (
            d["device_id"],
            d["kind"],
            d.get("site") or "-",
            d["state"],
            _ago(d.get("last_seen"), now),
            d.get("software") or "-",
            d.get("model_version") or "-",
            _config(d),
        )
        for d in devices
    ]


def render(devices: Sequence[dict[str, Any]], *, now: datetime | None = None) -> str:
    rows = [COLUMNS, *fleet_rows(devices, now=now)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    drift = sum(1 for d in devices if d.get("config_drift"))
    lines.append(f"{len(devices)} devices, {drift} not running their current config")
    return "\n".join(lines)
