"""Frame to network input: letterboxing, shared by training and the run time.

Any frame, whatever its size and aspect, is scaled to fit the network's 256x192 input without
distortion and centred on a mid-grey canvas. ``Letterbox`` maps coordinates both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

INPUT_WIDTH: Final = 256
INPUT_HEIGHT: Final = 192
#: Output cells are STRIDE x STRIDE input pixels.
STRIDE: Final = 4
GRID_WIDTH: Final = INPUT_WIDTH // STRIDE
GRID_HEIGHT: Final = INPUT_HEIGHT // STRIDE
PAD_VALUE: Final = 114


@dataclass(frozen=True)
class Letterbox:
    """How a frame was placed on the input canvas: ``input = frame * scale + pad``."""

    scale: float
    pad_x: int
    pad_y: int

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        """Frame pixel coordinates to input-canvas coordinates."""
        return (x * self.scale + self.pad_x, y * self.scale + self.pad_y)

    def to_frame(self, x: float, y: float) -> tuple[float, float]:
        """Input-canvas coordinates back to frame pixel coordinates."""
        return ((x - self.pad_x) / self.scale, (y - self.pad_y) / self.scale)


def shrink(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """``image`` resized to ``size`` (width, height), averaging pixels when it shrinks; also
    returns how much of ``image`` (width, height) went into it.

    OpenCV's area averaging is quick for whole factors and about four times slower otherwise
    (1.0 ms against 0.25 ms from 640x480 to 256x192, one thread). So the image is first
    averaged down by the largest whole factor that keeps it at least ``size``, dropping at
    most that factor less one pixel at its right and bottom edges, and the rest (a factor
    under 2) is interpolated bilinearly.

    The interpolation is OpenCV's bit-exact one (``INTER_LINEAR_EXACT``), so that a box
    gives the network the same canvas whatever its CPU: the plain ``INTER_LINEAR`` rounds
    differently on ARM64, by one level on a fifth to a quarter of the canvas's values, and
    that moved the first network's outputs by up to 0.61 on a Raspberry Pi 4 (emulated:
    ``portability.py``). It costs 0.08 ms more here (0.16 against 0.08 ms, 320x240 to
    256x192, one thread). Area averaging by whole factors gave the same values on every CPU
    emulated.
    """
    height, width = image.shape[:2]
    factor = min(width // size[0], height // size[1])
    if factor < 2:
        shrinking = width > size[0] or height > size[1]
        method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR_EXACT
        return np.asarray(cv2.resize(image, size, interpolation=method)), (width, height)
    used_w, used_h = width - width % factor, height - height % factor
    reduced = cv2.resize(
        image[:used_h, :used_w], (used_w // factor, used_h // factor), interpolation=cv2.INTER_AREA
    )
    if reduced.shape[1] == size[0] and reduced.shape[0] == size[1]:
        return np.asarray(reduced), (used_w, used_h)
    return np.asarray(cv2.resize(reduced, size, interpolation=cv2.INTER_LINEAR_EXACT)), (
        used_w,
        used_h,
    )


def letterbox(frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
    """Scale ``frame_bgr`` (H x W x 3 uint8) onto the uint8 input canvas; returns both."""
    height, width = frame_bgr.shape[:2]
    scale = min(INPUT_WIDTH / width, INPUT_HEIGHT / height)
    new_w = min(INPUT_WIDTH, max(1, round(width * scale)))
    new_h = min(INPUT_HEIGHT, max(1, round(height * scale)))
    # Averaging pixels when shrinking keeps noise and JPEG blocks from aliasing.
    resized, (used_w, used_h) = shrink(frame_bgr, (new_w, new_h))
    pad_x = (INPUT_WIDTH - new_w) // 2
    pad_y = (INPUT_HEIGHT - new_h) // 2
    if new_w == INPUT_WIDTH and new_h == INPUT_HEIGHT:
        canvas = np.ascontiguousarray(resized)
    else:
        canvas = np.full((INPUT_HEIGHT, INPUT_WIDTH, 3), PAD_VALUE, dtype=np.uint8)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    # The scale as applied per axis (to the part of the frame used) may differ by a rounding
    # hair; use the mean.
    actual = 0.5 * (new_w / used_w + new_h / used_h)
    return canvas, Letterbox(actual, pad_x, pad_y)


def letterbox_classes(classes: np.ndarray, box: Letterbox, fill: int) -> np.ndarray:
    """The per-pixel class map of a frame, placed like the frame and sampled per output cell."""
    height, width = classes.shape
    new_w = min(INPUT_WIDTH, max(1, round(width * box.scale)))
    new_h = min(INPUT_HEIGHT, max(1, round(height * box.scale)))
    canvas = np.full((INPUT_HEIGHT, INPUT_WIDTH), fill, dtype=np.uint8)
    canvas[box.pad_y : box.pad_y + new_h, box.pad_x : box.pad_x + new_w] = cv2.resize(
        classes, (new_w, new_h), interpolation=cv2.INTER_NEAREST
    )
    # The class at each cell's centre pixel.
    half = STRIDE // 2
    return np.ascontiguousarray(canvas[half::STRIDE, half::STRIDE])
