"""What device events do to alerts, as values: raise, clear, confirm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Key:
    site: str
    zone: str
    device: str
    type: str


@dataclass(frozen=True, slots=True)
class Raise:
    """Open an alert for ``key``, or count a repeat of the open one."""

    key: Key
    category: str
    severity: str
    title: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Clear:
    """The device says the condition is gone: clear the open alerts of these types."""

    site: str
    zone: str
    device: str
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Confirm:
    """The zone's fire is confirmed for linkage (two detectors, or a person)."""

    site: str
    zone: str
    by: str
    detectors: tuple[str, ...]


Action = Raise | Clear | Confirm
