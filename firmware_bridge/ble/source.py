"""Where advertisements come from: the record every source yields and the Protocol the
sources share (a recorded capture replayed, a BlueZ scanner through bleak)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AdvertisementRecord:
    """One advertisement as heard by the box."""

    t: float
    """When, in seconds: Unix time from a live scanner, the capture's own clock from a
    replay (so logic that takes its time from here runs the same at any replay speed)."""
    address: str
    """The advertiser's Bluetooth address, ``AA:BB:CC:DD:EE:FF`` in upper case."""
    rssi: int
    """Received signal strength, dBm."""
    data: bytes
    """The advertising payload: AD structures, as :func:`decode_advertisement` takes them."""


class AdvertisementSource(Protocol):
    """A stream of advertisement records.

    ``records()`` may be iterated once; it ends when the source runs out (a replay) or is
    closed. ``close()`` may be called from another thread and more than once.
    ``counters()`` is a snapshot of the source's own health counts (corrupt lines,
    scanner restarts…), names as each source documents them."""

    def records(self) -> Iterator[AdvertisementRecord]:
        """Records in arrival order, until the source ends or is closed."""
        ...

    def counters(self) -> dict[str, int]:
        """The source's health counts, now."""
        ...

    def horizon(self) -> float | None:
        """The time of a record the source knows of but has not yet seen taken (a replay's
        next record): a clock ticking between records must stop there, or a reader that fell
        behind would see studs time out that were only waiting in the file. ``None`` when
        the source cannot know (a live radio: nothing waits, time is the wall's)."""
        ...

    def close(self) -> None:
        """Stop: ``records()`` ends soon after, and resources are released."""
        ...
