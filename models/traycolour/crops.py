"""Inputs of the second stage: a dish unrolled around its centre, and the tray's colour.

Shared by training and the run time (NumPy and OpenCV only).

* ``crop_dish`` cuts a candidate dish out of the frame as given to ``recognize``, not out of
  the 256x192 canvas the first network saw: on a 640x480 frame a small bowl is about 15 canvas
  pixels across, its rim a pixel or two, while the frame still holds 40. The crop is the
  candidate's box enlarged by ``CROP_CONTEXT`` (so that some tray shows around the dish) and
  resized to ``CROP_SIDE`` square (area-averaged when it shrinks, so that a large dish's food
  texture does not alias); out-of-frame parts repeat the border. Resizing the box to a square
  also turns an upright ellipse into a circle.
* ``rim_strip`` unrolls that crop around its centre: ``STRIP_ROWS`` radii from ``STRIP_INNER``
  to ``CROP_CONTEXT`` times the dish's radius, by ``STRIP_ANGLES`` angles. The rim, which
  decides the colour, becomes a band across the strip, food lies above it and the tray below;
  a turn of the dish is a shift along the angles. The crop classifier reads the strip.
* ``tray_reference`` is the median colour of the canvas cells that the first network calls
  background with high probability: mostly the tray, which is neutral or nearly so, and so a
  white-balance and exposure reference for the crop classifier (colour constancy: a white plate
  under 3000 K light is as orange as the tray around it, a yellow one is much more so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import cv2
import numpy as np

from models.traycolour.preprocess import GRID_HEIGHT, GRID_WIDTH, STRIDE

if TYPE_CHECKING:
    from models.traycolour.preprocess import Letterbox

#: Side of the square crop the strip is sampled from, pixels.
CROP_SIDE: Final = 96
#: The crop spans the candidate's box times this, around the same centre.
CROP_CONTEXT: Final = 1.3
#: The strip: rows from the inner radius (share of the dish's radius) out to ``CROP_CONTEXT``,
#: by angles all the way round. The middle of a dish is food and says nothing of its colour.
STRIP_ROWS: Final = 20
STRIP_ANGLES: Final = 48
STRIP_INNER: Final = 0.35
#: Cells whose background probability is at least this count towards the tray reference.
REFERENCE_BACKGROUND: Final = 0.8
#: Fewer such cells than this and every cell of the frame counts instead.
REFERENCE_MIN_CELLS: Final = 24


def crop_dish(
    frame: np.ndarray, box: Letterbox, centre: tuple[float, float], size: tuple[float, float]
) -> np.ndarray:
    """CROP_SIDE x CROP_SIDE x 3 uint8 crop of ``frame`` around a candidate given in canvas
    pixels (``centre`` x, y and box ``size`` width, height)."""
    cx, cy = centre
    width, height = size
    fx, fy = box.to_frame(cx, cy)
    half_w = max(0.5 * CROP_CONTEXT * width / box.scale, 2.0)
    half_h = max(0.5 * CROP_CONTEXT * height / box.scale, 2.0)
    x0, x1 = round(fx - half_w), round(fx + half_w)
    y0, y1 = round(fy - half_h), round(fy + half_h)
    x1, y1 = max(x1, x0 + 2), max(y1, y0 + 2)
    fh, fw = frame.shape[:2]
    roi = frame[max(y0, 0) : min(y1, fh), max(x0, 0) : min(x1, fw)]
    if roi.shape[0] == 0 or roi.shape[1] == 0:
        return np.zeros((CROP_SIDE, CROP_SIDE, 3), np.uint8)
    if x0 < 0 or y0 < 0 or x1 > fw or y1 > fh:
        roi = cv2.copyMakeBorder(
            roi,
            max(-y0, 0),
            max(y1 - fh, 0),
            max(-x0, 0),
            max(x1 - fw, 0),
            cv2.BORDER_REPLICATE,
        )
    shrinking = roi.shape[0] > CROP_SIDE or roi.shape[1] > CROP_SIDE
    method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(roi, (CROP_SIDE, CROP_SIDE), interpolation=method), np.uint8)


def _strip_maps() -> tuple[np.ndarray, np.ndarray]:
    """Where each strip pixel is read from in the crop (x and y maps for ``cv2.remap``)."""
    radius = CROP_SIDE / 2 / CROP_CONTEXT
    rho = strip_radii()[:, None]
    theta = (np.arange(STRIP_ANGLES, dtype=np.float32) * (2.0 * np.pi / STRIP_ANGLES))[None, :]
    centre = CROP_SIDE / 2 - 0.5
    map_x = (centre + radius * rho * np.cos(theta)).astype(np.float32)
    map_y = (centre + radius * rho * np.sin(theta)).astype(np.float32)
    return map_x, map_y


def strip_radii() -> np.ndarray:
    """The radius of each strip row, as a share of the dish's radius (float32, STRIP_ROWS)."""
    return np.linspace(STRIP_INNER, CROP_CONTEXT, STRIP_ROWS, dtype=np.float32)


_MAP_X, _MAP_Y = _strip_maps()


def unroll(crop: np.ndarray) -> np.ndarray:
    """STRIP_ROWS x STRIP_ANGLES x 3 uint8: a ``crop_dish`` crop unrolled around its centre."""
    return np.asarray(
        cv2.remap(crop, _MAP_X, _MAP_Y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        np.uint8,
    )


def rim_strip(
    frame: np.ndarray, box: Letterbox, centre: tuple[float, float], size: tuple[float, float]
) -> np.ndarray:
    """The crop classifier's input for one candidate (canvas pixels, as ``crop_dish``)."""
    return unroll(crop_dish(frame, box, centre, size))


def _frame_cells(box: Letterbox, frame_shape: tuple[int, ...]) -> np.ndarray:
    """GH x GW: True for output cells whose centre lies on the frame, not on the padding."""
    height, width = frame_shape[:2]
    xs = (np.arange(GRID_WIDTH) + 0.5) * STRIDE
    ys = (np.arange(GRID_HEIGHT) + 0.5) * STRIDE
    in_x = (xs >= box.pad_x) & (xs < box.pad_x + width * box.scale)
    in_y = (ys >= box.pad_y) & (ys < box.pad_y + height * box.scale)
    return np.asarray(in_y[:, None] & in_x[None, :])


def tray_reference(
    canvas: np.ndarray, background: np.ndarray, box: Letterbox, frame_shape: tuple[int, ...]
) -> np.ndarray:
    """Median BGR (float32, 0..255) of the canvas over confidently-background cells.

    ``background`` is the first network's per-cell background probability (GH x GW).
    """
    cells = cv2.resize(canvas, (GRID_WIDTH, GRID_HEIGHT), interpolation=cv2.INTER_AREA)
    on_frame = _frame_cells(box, frame_shape)
    chosen = on_frame & (background >= REFERENCE_BACKGROUND)
    if int(chosen.sum()) < REFERENCE_MIN_CELLS:
        chosen = on_frame
    if not chosen.any():
        return np.full(3, 114.0, np.float32)
    return np.asarray(np.median(cells[chosen].astype(np.float32), axis=0), np.float32)
