"""Where frames come from: a camera (OpenCV ``VideoCapture``) or a folder of images
replayed at a frame rate (the camera's stand-in for tests, the demo and diagnosis)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    at: float  # time.time() when taken
    image: np.ndarray  # H x W x 3 uint8 BGR


class FrameSource(Protocol):
    def frames(self) -> Iterator[Frame]:
        """Frames until the source ends (a replay) or is closed."""
        ...

    def close(self) -> None: ...

    def no_frames_since(self) -> float | None:
        """``time.time()`` since when the source has given no frame although it should (a
        camera gone), or None while it gives them."""
        ...


class FrameSourceError(RuntimeError):
    """The source cannot deliver frames at all (no camera, no folder)."""


def _now_and_then(count: int) -> bool:
    """Whether the ``count``-th failure in a row is logged: the 1st, 10th, 100th, then
    every 1000th, so a camera that stays away does not fill the log."""
    return count in (1, 10, 100) or count % 1000 == 0


class CameraSource:
    """A V4L2 camera index (``camera:0``) or a stream URL (``rtsp://…``).

    A camera that stops giving frames (unplugged and plugged in again, a stream that
    dropped) is closed and opened again after ``reopen_after`` failed reads in a row, and
    again after each ``reopen_after`` more, until it gives frames or the source is closed:
    the checkout comes back by itself, without a restart of the agent.
    """

    def __init__(
        self,
        device: int | str,
        *,
        width: int = 640,
        height: int = 480,
        reopen_after: int = 40,
        pause_s: float = 0.05,
    ) -> None:
        self._device = device
        self._size = (width, height)
        self._reopen_after = max(1, reopen_after)
        self._pause_s = pause_s
        self._lock = threading.Lock()  # close() may come from another thread
        self._closed = threading.Event()
        self._failing_since: float | None = None
        self._could_not_open = False  # the last try to open it again failed
        self._capture = self._open()
        if not self._capture.isOpened():
            raise FrameSourceError(f"cannot open camera {device!r}")

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self._device)
        if capture.isOpened():
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        return capture

    def frames(self) -> Iterator[Frame]:
        index = 0
        failures = 0
        while not self._closed.is_set():
            with self._lock:
                if self._closed.is_set():
                    return
                ok, image = self._capture.read()
            if ok and image is not None:
                if failures >= self._reopen_after:
                    log.warning("camera %r gives frames again", self._device)
                failures = 0
                self._failing_since = None
                yield Frame(index, time.time(), image)
                index += 1
                continue
            if failures == 0:
                self._failing_since = time.time()
            failures += 1
            if _now_and_then(failures):
                log.warning("camera %r gave no frame (%d in a row)", self._device, failures)
            if failures % self._reopen_after == 0:
                self._reopen(failures)
            self._closed.wait(self._pause_s)

    def _reopen(self, failures: int) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._capture.release()
            self._capture = self._open()
            opened = self._capture.isOpened()
        attempt = failures // self._reopen_after
        # A camera that stays away is not logged every two seconds; a change always is.
        now_or_then = _now_and_then(attempt)
        could_not = self._could_not_open
        self._could_not_open = not opened
        if opened and (could_not or now_or_then):
            log.warning("camera %r opened again after %d failed reads", self._device, failures)
        elif not opened and (now_or_then or not could_not):
            log.error(
                "camera %r cannot be opened (%d tries); trying again every %d failed reads",
                self._device,
                attempt,
                self._reopen_after,
            )

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._capture.release()

    def no_frames_since(self) -> float | None:
        return self._failing_since


class FolderSource:
    """Images of a folder in name order, at ``fps`` (0: as fast as they are read).

    A file that does not decode is skipped with a clear log line: one corrupt frame
    must not stop the checkout."""

    def __init__(self, folder: Path, *, fps: float = 10.0, loop: bool = False) -> None:
        if not folder.is_dir():
            raise FrameSourceError(f"replay folder {folder} does not exist")
        self._files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise FrameSourceError(f"replay folder {folder} holds no images")
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._loop = loop
        self._closed = threading.Event()  # close() may come from another thread
        self.skipped: list[tuple[Path, str]] = []

    def frames(self) -> Iterator[Frame]:
        index = 0
        next_at = time.monotonic()
        while not self._closed.is_set():
            for path in self._files:
                if self._closed.is_set():
                    return
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None or image.size == 0:
                    log.error("skipping replay frame %s: not a decodable image", path.name)
                    self.skipped.append((path, "not a decodable image"))
                    continue
                if self._period:
                    next_at += self._period
                    time.sleep(max(0.0, next_at - time.monotonic()))
                yield Frame(index, time.time(), image)
                index += 1
            if not self._loop:
                return

    def close(self) -> None:
        self._closed.set()

    def no_frames_since(self) -> float | None:
        return None  # a replay gives what its folder holds


def open_source(spec: str, *, fps: float = 10.0, loop: bool = False) -> FrameSource:
    """``camera:0``, ``camera:rtsp://…`` or ``folder:/path/to/frames`` (replayed once, or
    over and over with ``loop``)."""
    kind, _, where = spec.partition(":")
    if kind == "camera":
        return CameraSource(int(where) if where.isdigit() else where)
    if kind == "folder":
        return FolderSource(Path(where), fps=fps, loop=loop)
    raise FrameSourceError(f"unknown frame source {spec!r} (camera:N, camera:URL or folder:PATH)")
