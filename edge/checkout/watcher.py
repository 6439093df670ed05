"""When is a tray there, and at rest? A small state machine over cheap frame statistics.

EMPTY ──tray appears──▶ ARRIVING ──still for N frames──▶ READY (recognise once)
  ▲                                                         │
  └────────── slot empty for M frames ◀── HOLDING (the bill stays up) ◀┘

Presence is the share of pixels that differ from the empty slot (a background that
follows slow light changes while the slot is empty); stillness is the share that
differ from the previous frame. Both on a small grey copy: a few hundred microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from edge.config import WatcherConfig


class SlotState(StrEnum):
    EMPTY = "empty"
    ARRIVING = "arriving"
    READY = "ready"
    HOLDING = "holding"


@dataclass(frozen=True, slots=True)
class Observation:
    state: SlotState
    presence: float
    motion: float
    ready: bool  # this frame is the one to recognise (once per tray)


class TrayWatcher:
    def __init__(self, config: WatcherConfig | None = None) -> None:
        self.config = config or WatcherConfig()
        self.state = SlotState.EMPTY
        self._background: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._still = 0
        self._empty = 0

    @property
    def background(self) -> np.ndarray | None:
        """The empty slot as last seen (to keep across restarts)."""
        return None if self._background is None else self._background.copy()

    def restore_background(self, background: np.ndarray) -> None:
        """Start from a known empty slot instead of taking the first frame as one
        (after a restart the first frame may well hold a tray)."""
        self._background = np.asarray(background, dtype=np.float32).copy()

    def _small(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        width = self.config.width
        small = cv2.resize(
            image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA
        )
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return np.asarray(cv2.GaussianBlur(grey, (3, 3), 0), dtype=np.float32)

    def _share(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(np.abs(a - b) > self.config.pixel_threshold))

    def observe(self, image: np.ndarray) -> Observation:
        cfg = self.config
        grey = self._small(image)
        if self._background is None or self._background.shape != grey.shape:
            # With no known empty slot, the first frame is taken as one.
            self._background = grey.copy()
            self._previous = grey
            return Observation(self.state, 0.0, 0.0, ready=False)
        presence = self._share(grey, self._background)
        motion = self._share(grey, self._previous) if self._previous is not None else 1.0
        self._previous = grey
        ready = False
        if self.state is SlotState.EMPTY:
            if presence >= cfg.present_above:
                self.state, self._still = SlotState.ARRIVING, 0
            else:
                cv2.accumulateWeighted(grey, self._background, cfg.background_rate)
        elif self.state is SlotState.ARRIVING:
            if presence < cfg.empty_below:
                self.state = SlotState.EMPTY  # it went away before settling
            elif motion < cfg.still_below:
                self._still += 1
                if self._still >= cfg.still_frames:
                    self.state, ready = SlotState.READY, True
            else:
                self._still = 0
        elif self.state is SlotState.READY:
            self.state, self._empty = SlotState.HOLDING, 0
        if self.state is SlotState.HOLDING:
            self._empty = self._empty + 1 if presence < cfg.empty_below else 0
            if self._empty >= cfg.empty_frames:
                self.state = SlotState.EMPTY
        return Observation(self.state, presence, motion, ready)
