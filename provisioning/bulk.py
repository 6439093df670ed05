"""Register many boxes from a CSV (columns ``site``, ``kind``, optional ``name`` and
``device_id``): one claim token and QR code per box, a progress bar, and a results CSV.
A bad row is reported and skipped; it does not stop the others."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioning.client import CloudClient, CloudError
from provisioning.qr import claim_qr, write_png

KINDS = ("checkout", "fire", "parking")
RESULT_FIELDS = ("device_id", "kind", "site", "name", "claim_token", "expires_at", "qr_png")


@dataclass(frozen=True)
class Row:
    line: int
    site: str
    kind: str
    name: str | None
    device_id: str | None


@dataclass
class BulkResult:
    registered: list[dict[str, Any]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (CSV line, why)


class CsvError(ValueError):
    """The file is not a CSV with the columns we need."""


def read_rows(path: Path) -> tuple[list[Row], list[tuple[int, str]]]:
    """The rows to register, and the rows refused before asking the cloud."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CsvError(f"cannot read {path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    columns = set(reader.fieldnames or ())
    if not {"site", "kind"} <= columns:
        raise CsvError(
            f"{path} needs the columns site and kind (has: {', '.join(sorted(columns))})"
        )
    rows: list[Row] = []
    bad: list[tuple[int, str]] = []
    for line, record in enumerate(reader, start=2):
        site = (record.get("site") or "").strip()
        kind = (record.get("kind") or "").strip()
        if not site or kind not in KINDS:
            bad.append((line, f"needs a site and a kind of {', '.join(KINDS)}"))
            continue
        rows.append(
            Row(
                line,
                site,
                kind,
                (record.get("name") or "").strip() or None,
                (record.get("device_id") or "").strip() or None,
            )
        )
    return rows, bad


def register_all(
    client: CloudClient,
    rows: Iterable[Row],
    *,
    out_dir: Path,
    progress: Callable[[Iterable[Row]], Iterable[Row]] = lambda rows: rows,
) -> BulkResult:
    """Register each row; write ``out_dir/claims.csv`` (0600) and one PNG per box."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BulkResult()
    for row in progress(rows):
        try:
            made = client.register(
                kind=row.kind, site=row.site, name=row.name, device_id=row.device_id
            )
        except CloudError as exc:
            if exc.status is None or exc.status in (401, 403):
                raise  # the cloud is down or the token is wrong: every row would fail
            result.failed.append((row.line, str(exc)))
            continue
        png = write_png(
            claim_qr(client.base_url, made["claim_token"]), out_dir / f"{made['device_id']}.png"
        )
        result.registered.append(
            {
                "device_id": made["device_id"],
                "kind": row.kind,
                "site": row.site,
                "name": made["device"]["name"],
                "claim_token": made["claim_token"],
                "expires_at": made["expires_at"],
                "qr_png": str(png),
            }
        )
    _write_results(out_dir / "claims.csv", result.registered)
    return result


def _write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=RESULT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
