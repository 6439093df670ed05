"""Inputs of the second stage: a dish unrolled around its centre, and the tray's colour.

Shared by training and the run time (NumPy and OpenCV only).

* ``rim_strip`` unrolls a candidate dish around its centre, read from the frame as given to
  ``recognize``, not from the 256x192 canvas the first network saw: on a 640x480 frame a
  small bowl is about 15 canvas pixels across, its rim a pixel or two, while the frame still
  holds 40. The strip has ``STRIP_ROWS`` radii from ``STRIP_INNER`` to ``CROP_CONTEXT`` times
  the dish's radius (so that some tray shows around the dish), by ``STRIP_ANGLES`` angles;
  each column averages ``SUPERSAMPLE`` samples along its arc. The rim, which decides the
  colour, becomes a band across the strip, food lies above it and the tray below; a turn of
  the dish is a shift along the angles. The crop classifier reads the strip.
* ``tray_reference`` is the median colour of the canvas cells that the first network calls
  background with high probability: mostly the tray, which is neutral or nearly so, and so a
  white-balance and exposure reference for the crop classifier (colour constancy: a white plate
  under 3000 K light is as orange as the tray around it, a yellow one is much more so).

The strip used to be sampled from a 96x96 crop of the box, resized with OpenCV's area
averaging (not quick for fractional factors): about 0.25 ms a dish on a 640x480 frame, one
thread, against 0.06 ms reading straight from the frame as here, of an 8 ms budget.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

import cv2
import numpy as np

from models.traycolour.preprocess import GRID_HEIGHT, GRID_WIDTH, STRIDE

if TYPE_CHECKING:
    from models.traycolour.preprocess import Letterbox

#: The strip reaches out to this many times the candidate's radius, so that the tray around
#: the dish shows in its last rows.
CROP_CONTEXT: Final = 1.3
#: The strip: rows from the inner radius (share of the dish's radius) out to ``CROP_CONTEXT``,
#: by angles all the way round. The middle of a dish is food and says nothing of its colour.
STRIP_ROWS: Final = 20
STRIP_ANGLES: Final = 48
STRIP_INNER: Final = 0.35
#: Samples per strip column around each ring, averaged: the column is a short arc of the ring,
#: not one point of it, so sensor noise and JPEG blocks average out instead of aliasing.
SUPERSAMPLE: Final = 4
#: Dishes larger than twice this radius (frame pixels) are read from the region around them
#: averaged down by a whole factor: a few samples per pixel of arc, whatever the frame size.
REDUCE_ABOVE: Final = 24.0
#: Cells whose background probability is at least this count towards the tray reference.
REFERENCE_BACKGROUND: Final = 0.8
#: Fewer such cells than this and every cell of the frame counts instead.
REFERENCE_MIN_CELLS: Final = 24


def strip_radii() -> np.ndarray:
    """The radius of each strip row, as a share of the dish's radius (float32, STRIP_ROWS)."""
    return np.linspace(STRIP_INNER, CROP_CONTEXT, STRIP_ROWS, dtype=np.float32)


def _ring_offsets() -> tuple[np.ndarray, np.ndarray]:
    """Unit offsets of every sample (STRIP_ROWS x STRIP_ANGLES * SUPERSAMPLE) from the centre,
    in dish radii: column j of the strip averages the SUPERSAMPLE samples centred on angle
    ``j * 2 pi / STRIP_ANGLES``."""
    step = 2.0 * np.pi / STRIP_ANGLES
    fine = (np.arange(STRIP_ANGLES * SUPERSAMPLE) - (SUPERSAMPLE - 1) / 2) * (step / SUPERSAMPLE)
    rho = strip_radii()[:, None].astype(np.float64)
    x, y = rho * np.cos(fine)[None, :], rho * np.sin(fine)[None, :]
    return x.astype(np.float32), y.astype(np.float32)


_RING_X, _RING_Y = _ring_offsets()


def _span(centre: float, reach: float, factor: int, limit: int) -> tuple[int, int]:
    """First and last-plus-one pixel of the region reaching ``reach`` either side of
    ``centre``: whole blocks of ``factor`` pixels counted from the pixel edge nearest the
    centre, as many as lie within ``0..limit`` (possibly none: first == last)."""
    middle = round(centre)
    blocks = int(np.ceil(reach / factor)) + 1
    first, last = middle - blocks * factor, middle + blocks * factor
    if first < 0:
        first += -(first // factor) * factor
    if last > limit:
        last -= -((limit - last) // factor) * factor
    return first, max(first, last)


def rim_strip(
    frame: np.ndarray, box: Letterbox, centre: tuple[float, float], size: tuple[float, float]
) -> np.ndarray:
    """The crop classifier's input for one candidate given in canvas pixels (``centre`` x, y
    and box ``size`` width, height): STRIP_ROWS x STRIP_ANGLES x 3 uint8, read from ``frame``.

    The dish's box is an ellipse, so each row is the ellipse scaled by its radius (an upright
    oval becomes a circle). Where the dish is more than twice ``REDUCE_ABOVE`` pixels across,
    the region around it is first averaged down by a whole factor; parts beyond the frame
    repeat its border.
    """
    fx, fy = box.to_frame(*centre)
    rx = max(0.5 * size[0] / box.scale, 1.0)
    ry = max(0.5 * size[1] / box.scale, 1.0)
    factor = max(1, int(min(rx, ry) // REDUCE_ABOVE))
    # The averaging blocks are laid out from the dish's centre, so that a dish turned by a
    # quarter is averaged the same way; the region is cut to the frame in whole blocks.
    x0, x1 = _span(fx, CROP_CONTEXT * rx, factor, frame.shape[1])
    y0, y1 = _span(fy, CROP_CONTEXT * ry, factor, frame.shape[0])
    if x1 == x0 or y1 == y0:  # not a block of it on the frame: read the nearest border pixels
        factor = 1
        x0 = min(max(round(fx), 0), frame.shape[1] - 1)
        y0 = min(max(round(fy), 0), frame.shape[0] - 1)
        x1, y1 = x0 + 1, y0 + 1
    roi = frame[y0:y1, x0:x1]
    if factor > 1:
        size_out = ((x1 - x0) // factor, (y1 - y0) // factor)
        roi = cv2.resize(roi, size_out, interpolation=cv2.INTER_AREA)
    # Frame coordinates are continuous (pixel i spans i..i+1); remap's pixel centres are whole.
    map_x = _RING_X * np.float32(rx / factor) + np.float32((fx - x0) / factor - 0.5)
    map_y = _RING_Y * np.float32(ry / factor) + np.float32((fy - y0) / factor - 0.5)
    fine = cv2.remap(roi, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Each column the mean of its SUPERSAMPLE samples: a whole-factor area resize.
    return np.asarray(
        cv2.resize(fine, (STRIP_ANGLES, STRIP_ROWS), interpolation=cv2.INTER_AREA), np.uint8
    )


@functools.lru_cache(maxsize=16)
def _frame_cells(box: Letterbox, frame_shape: tuple[int, ...]) -> np.ndarray:
    """GH x GW: True for output cells whose centre lies on the frame, not on the padding.
    The same for every frame of a camera: kept, read-only, for the last few frame sizes."""
    height, width = frame_shape[:2]
    xs = (np.arange(GRID_WIDTH) + 0.5) * STRIDE
    ys = (np.arange(GRID_HEIGHT) + 0.5) * STRIDE
    in_x = (xs >= box.pad_x) & (xs < box.pad_x + width * box.scale)
    in_y = (ys >= box.pad_y) & (ys < box.pad_y + height * box.scale)
    cells = np.asarray(in_y[:, None] & in_x[None, :])
    cells.flags.writeable = False
    return cells


#: Channel c of a pixel counts in bins c*256 .. c*256+255 of one ``bincount``.
_CHANNEL_OFFSET: Final = np.array([0, 256, 512], np.int64)


def channel_medians(pixels: np.ndarray) -> np.ndarray:
    """The median of each channel of ``pixels`` (N x 3 uint8, N >= 1) as float32: what
    ``np.median(pixels.astype(np.float32), axis=0)`` gives (the mean of the two middle values
    when N is even), counted from a histogram instead of partly sorting a float copy. Alone
    on 2,454 pixels both take about 53 us; inside ``recognize``, right after the networks,
    the tray reference took 0.18 ms with it against 0.26 ms (alternating, 300 frames each,
    with a model build running beside it)."""
    n = len(pixels)
    counts = np.bincount((pixels + _CHANNEL_OFFSET).ravel(), minlength=768).reshape(3, 256)
    below = np.cumsum(counts, axis=1)
    # The value of rank k is the first whose running count passes k.
    lower = (below <= (n - 1) // 2).sum(axis=1)
    upper = (below <= n // 2).sum(axis=1)
    return np.asarray((lower + upper) / 2.0, np.float32)


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
    return channel_medians(cells[chosen])
