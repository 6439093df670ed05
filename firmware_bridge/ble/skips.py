"""Why an AD structure or a frame was skipped: the reasons, the error the strict decoders
raise, and the counter the entry point fills instead of raising."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum


class SkipReason(StrEnum):
    """Why part of an advertisement did not become a reading.

    The values are stable strings: they end up as metric labels."""

    AD_TRUNCATED = "ad_truncated"
    """An AD structure's length byte points past the end of the data; the rest is lost."""
    AD_UNKNOWN_TYPE = "ad_unknown_type"
    """An AD type that is neither decoded nor known housekeeping (flags, names, UUID lists…)."""
    UNKNOWN_COMPANY = "unknown_company"
    """Manufacturer data of a company id we do not decode (someone else's device)."""
    UNKNOWN_SERVICE = "unknown_service"
    """Service data of a service UUID we do not decode."""
    UNKNOWN_FRAME = "unknown_frame"
    """A container we know holding a frame type or version we do not decode
    (an Apple frame that is not an iBeacon, Eddystone-URL/EID, encrypted TLM,
    a stud frame of a newer version)."""
    TRUNCATED = "truncated"
    """A recognised frame shorter than its layout."""
    OVERLONG = "overlong"
    """A recognised frame longer than its layout."""
    MALFORMED = "malformed"
    """A recognised frame whose fields break its layout (a wrong length byte inside the
    frame, reserved bits set, an impossible combination)."""
    BAD_CRC = "bad_crc"
    """A stud frame whose CRC-8 does not match."""


class DecodeError(ValueError):
    """A strict decoder refused its input. ``reason`` says why, ``detail`` says what it saw.

    Only the strict per-format decoders raise it; :func:`decode_advertisement` catches it
    and counts the reason."""

    def __init__(self, reason: SkipReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class SkipCounts:
    """Skips counted by reason. Every reason is present (zero until seen), so a metric
    exporter sees a stable set of labels from the start."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[SkipReason, int] = dict.fromkeys(SkipReason, 0)

    def add(self, reason: SkipReason, n: int = 1) -> None:
        """Count ``n`` skips for ``reason``."""
        self._counts[reason] += n

    def add_all(self, reasons: Iterable[SkipReason]) -> None:
        """Count one skip for each reason in ``reasons`` (e.g. ``DecodedAdvert.skipped``)."""
        counts = self._counts
        for reason in reasons:
            counts[reason] += 1

    def merge(self, other: SkipCounts) -> None:
        """Add another counter's counts to this one."""
        for reason, n in other._counts.items():
            self._counts[reason] += n

    def __getitem__(self, reason: SkipReason) -> int:
        return self._counts[reason]

    def __iter__(self) -> Iterator[tuple[SkipReason, int]]:
        return iter(self._counts.items())

    @property
    def total(self) -> int:
        """All skips, whatever the reason."""
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        """``{reason value: count}`` for every reason, zeros included."""
        return {reason.value: n for reason, n in self._counts.items()}

    def __repr__(self) -> str:
        seen = ", ".join(f"{r.value}={n}" for r, n in self._counts.items() if n)
        return f"SkipCounts({seen})"
