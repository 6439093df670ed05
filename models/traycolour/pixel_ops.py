"""Per-channel arithmetic between an H x W x 3 image and an H x W map, for the renderer.

NumPy broadcasts an H x W map over the channel axis (``img *= factor[:, :, None]``) with an
inner loop three elements long: on a 640x480 frame that took 2.9 ms here, one pass per channel
0.4 ms. These do the same element operations in the same order, so their results are the same
to the bit, and a tray renders exactly as before.
"""

from __future__ import annotations

import numpy as np


def scale(img: np.ndarray, factor: np.ndarray) -> None:
    """In place: ``img *= factor[:, :, None]``."""
    for k in range(img.shape[2]):
        channel = img[:, :, k]
        channel *= factor


def shift(img: np.ndarray, term: np.ndarray) -> None:
    """In place: ``img += term[:, :, None]``."""
    for k in range(img.shape[2]):
        channel = img[:, :, k]
        channel += term


def divide(img: np.ndarray, divisor: np.ndarray) -> None:
    """In place: ``img /= divisor[:, :, None]``."""
    for k in range(img.shape[2]):
        channel = img[:, :, k]
        channel /= divisor


def times(colour: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``colour * factor[:, :, None]``, for a colour per pixel (H x W x 3) or one colour (3)."""
    out = np.empty((*factor.shape, 3), np.result_type(colour, factor))
    for k in range(3):
        np.multiply(colour[:, :, k] if colour.ndim == 3 else colour[k], factor, out=out[:, :, k])
    return out
