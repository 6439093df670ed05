"""The frames of billed trays on the box, kept for a while and then deleted.

Each billed tray's frame is kept so that staff can correct a recent bill (the frame then
becomes labelled data, copied out of here) and an operator can see what was billed. A
640x480 frame is about 86 KB as the pipeline writes it (synthetic trays, JPEG quality 90):
800 trays a day are about 70 MB a day, 25 GB a year, on a disk the outbox shares. So frames
older than ``keep_days`` are deleted: looked for at start, and then at most once an hour
when the pipeline says it is a quiet moment (a tray has just left).

A frame that cannot be written (disk full, read-only card) is logged and skipped: the
transaction it belongs to matters more than its picture.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
SUFFIX = ".jpg"


class FrameStore:
    def __init__(
        self,
        folder: Path,
        *,
        keep_days: float,
        clock: Callable[[], float] = time.time,
        prune_every_s: float = PRUNE_EVERY_S,
    ) -> None:
        self.folder = folder
        self.keep_s = keep_days * 86400.0
        self._clock = clock
        self._prune_every_s = prune_every_s
        self._next_prune = 0.0
        folder.mkdir(parents=True, exist_ok=True)
        self.prune_if_due()

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{SUFFIX}"

    def save(self, name: str, jpeg: bytes) -> bool:
        """Keep ``jpeg`` as ``name``; False (logged) if the disk would not take it."""
        target = self.path(name)
        try:
            target.write_bytes(jpeg)
        except OSError as exc:
            log.error("checkout: frame %s not kept (%s); the bill is recorded", target.name, exc)
            with contextlib.suppress(OSError):
                target.unlink(missing_ok=True)  # no half-written frame
            return False
        return True

    def prune_if_due(self) -> int:
        """Delete old frames if the last look was an hour ago or more; how many went."""
        now = self._clock()
        if now < self._next_prune:
            return 0
        self._next_prune = now + self._prune_every_s
        return self.prune(now)

    def prune(self, now: float) -> int:
        """Delete frames last written more than ``keep_s`` before ``now``; how many went."""
        cutoff = now - self.keep_s
        removed = 0
        for frame in self.folder.glob(f"*{SUFFIX}"):
            try:
                if frame.stat().st_mtime < cutoff:
                    frame.unlink()
                    removed += 1
            except OSError as exc:  # gone meanwhile, or not ours to delete: leave it
                log.warning("checkout: could not delete old frame %s: %s", frame.name, exc)
        if removed:
            log.info(
                "checkout: deleted %d frames older than %.0f days", removed, self.keep_s / 86400
            )
        return removed
