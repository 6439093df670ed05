"""The billed trays' frames on the box: kept, deleted after their days (when a tray has left),
and a frame the disk will not take is skipped without losing anything else."""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

import pytest

from edge.checkout.frame_store import FrameStore

DAY = 86400.0


def aged(path: Path, days: float, now: float) -> None:
    stamp = now - days * DAY
    os.utime(path, (stamp, stamp))


def test_frames_older_than_their_days_are_deleted_at_start_and_later(tmp_path: Path) -> None:
    now = [time.time()]  # frames written here are stamped with the real clock
    folder = tmp_path / "frames"
    folder.mkdir()
    for name, days in (("old", 31), ("recent", 29)):
        (folder / f"{name}.jpg").write_bytes(b"jpeg")
        aged(folder / f"{name}.jpg", days, now[0])
    (folder / "notes.txt").write_text("not a frame")
    aged(folder / "notes.txt", 400, now[0])

    store = FrameStore(folder, keep_days=30, clock=lambda: now[0])
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "recent.jpg"]

    # Two days on, "recent" is 31 days old; a frame kept then stays.
    now[0] += 2 * DAY
    assert store.save("new", b"jpeg")
    assert store.prune_if_due() == 1
    assert sorted(p.name for p in folder.glob("*.jpg")) == ["new.jpg"]


def test_the_hourly_look_is_timed_by_the_clock(tmp_path: Path) -> None:
    now = [time.time()]
    store = FrameStore(tmp_path, keep_days=1, clock=lambda: now[0], prune_every_s=3600)
    assert store.prune_if_due() == 0  # just looked, at start
    store.save("a", b"x")
    aged(store.path("a"), 2, now[0])
    now[0] += 3599
    assert store.prune_if_due() == 0
    assert store.path("a").exists()
    now[0] += 1
    assert store.prune_if_due() == 1
    assert not store.path("a").exists()


def test_a_frame_the_disk_will_not_take_is_skipped_whole_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = FrameStore(tmp_path / "frames", keep_days=30)
    real = Path.write_bytes

    def disk_full(self: Path, data: bytes) -> int:  # half written, then the card is full
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with caplog.at_level(logging.ERROR, logger="edge.checkout.frame_store"):
        assert store.save("tx-1", b"0123456789") is False
    assert not store.path("tx-1").exists(), "a half-written frame was left"
    assert "tx-1.jpg not kept" in caplog.text
    assert "No space left on device" in caplog.text
