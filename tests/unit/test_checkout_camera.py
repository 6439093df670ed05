"""The camera source, on a real ``cv2.VideoCapture`` of a short video file: at its end the
capture gives no frame, as an unplugged camera or a dropped stream does."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from edge.checkout.frames import CameraSource, FrameSourceError

if TYPE_CHECKING:
    from pathlib import Path

LEVELS = (30, 90, 150, 210)  # one grey level per frame of the video


def _video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for level in LEVELS:
        writer.write(np.full((48, 64, 3), level, np.uint8))
    writer.release()
    return path


#: A source that never gives its frames is closed after this, so the test fails, not hangs.
PATIENCE_S = 20.0


def _levels(camera: CameraSource, n: int) -> list[int]:
    """The grey level (index into LEVELS) of each of the first ``n`` frames, or of those that
    came before the source ended."""
    got = []
    deadline = threading.Timer(PATIENCE_S, camera.close)
    deadline.start()
    try:
        for frame in camera.frames():
            got.append(round(float(frame.image.mean()) / 60.0 - 0.5))  # 30 -> 0, 90 -> 1, ...
            if len(got) == n:
                break
    finally:
        deadline.cancel()
    return got


def test_a_camera_that_stops_giving_frames_is_opened_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    camera = CameraSource(str(_video(tmp_path / "slot.avi")), reopen_after=3, pause_s=0.001)
    with caplog.at_level(logging.WARNING):
        levels = _levels(camera, 10)
    camera.close()
    assert levels == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert "gave no frame (1 in a row)" in caplog.text
    assert "opened again after 3 failed reads" in caplog.text
    assert "gives frames again" in caplog.text


def test_a_camera_gone_for_a_while_is_tried_until_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    video = _video(tmp_path / "slot.avi")
    camera = CameraSource(str(video), reopen_after=2, pause_s=0.005)
    away = video.rename(tmp_path / "unplugged.avi")
    gone: list[tuple[float | None, float]] = []

    def plug_in_again() -> None:
        gone.append((camera.no_frames_since(), time.time()))
        away.rename(video)

    threading.Timer(0.5, plug_in_again).start()
    began = time.time()
    assert camera.no_frames_since() is None
    with caplog.at_level(logging.WARNING):
        levels = _levels(camera, 6)
    assert camera.no_frames_since() is None  # frames again
    camera.close()
    assert levels == [0, 1, 2, 3, 0, 1]
    assert time.time() - began >= 0.5
    ((since, plugged),) = gone
    assert since is not None
    assert began <= since <= plugged
    assert "cannot be opened (1 tries)" in caplog.text
    assert "opened again" in caplog.text


def test_closing_the_source_ends_the_frames_while_the_camera_is_gone(tmp_path: Path) -> None:
    video = _video(tmp_path / "slot.avi")
    camera = CameraSource(str(video), reopen_after=2, pause_s=0.01)
    video.unlink()
    threading.Timer(0.3, camera.close).start()
    began = time.monotonic()
    assert len(_levels(camera, 100)) == len(LEVELS)  # what was read before the end
    assert time.monotonic() - began < 10


def test_no_camera_at_all_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="cannot open camera"):
        CameraSource(str(tmp_path / "no-such-camera.avi"))
