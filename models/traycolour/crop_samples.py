"""Training samples of the crop classifier, cut while a training tray is rendered.

The crops come from the full-resolution frame in the rendering worker, so the frames need not
be kept (they would take several GB for the training set). Each true dish gives
``CROPS_PER_DISH`` crops around its box, shifted and resized as the first network's boxes are
(centre error about 5 % of the box, size error about 8 %); each tray gives two "not a dish"
crops well away from every dish centre, sized about like the tray's dishes: one anywhere (tray,
the gap between two bowls, the edge of a dish), one on clutter if the tray has any (a soup
spoon's bowl, a napkin, chopsticks: what the first network may take for a dish). Dishes of an
unknown colour or pattern give ``CROPS_PER_UNKNOWN_DISH`` crops.

The tray reference is taken as at run time (``crops.tray_reference``), with the true
background cells standing in for the first network's confident background: the run time's
rule (background probability >= 0.8) picks the same cells up to its errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import cv2
import numpy as np

from models.traycolour.crops import CROP_SIDE, crop_dish, tray_reference
from models.traycolour.palette import LABELS, SEG_BACKGROUND, UNKNOWN
from models.traycolour.preprocess import GRID_HEIGHT, GRID_WIDTH, STRIDE

if TYPE_CHECKING:
    from models.traycolour.preprocess import Letterbox

#: Label of a crop that shows no dish centred in it; the crop classifier's last class.
NOT_A_DISH: Final = len(LABELS)
CROP_CLASSES: Final = len(LABELS) + 1
CROPS_PER_DISH: Final = 2
#: Dishes of an unknown colour or pattern are rarer (about one in eight) and the costly
#: mistake (a patterned or grey dish billed as a colour): they give twice as many crops.
CROPS_PER_UNKNOWN_DISH: Final = 4
#: Centre shift (share of the box side) and log-size spread of the simulated detector boxes.
CENTRE_JITTER: Final = 0.05
SIZE_JITTER: Final = 0.08
#: A "not a dish" crop is centred farther than this many radii from every true dish centre.
FAR: Final = 0.8


@dataclass(frozen=True)
class CropSamples:
    """Crops, the tray reference of their frame, and their labels (``CROP_CLASSES``)."""

    crops: np.ndarray  # N x S x S x 3 uint8 BGR
    references: np.ndarray  # N x 3 float32 BGR 0..255
    labels: np.ndarray  # N int64

    @classmethod
    def join(cls, parts: list[CropSamples]) -> CropSamples:
        """All samples of ``parts``, in order."""
        return cls(
            np.concatenate([p.crops for p in parts]),
            np.concatenate([p.references for p in parts]),
            np.concatenate([p.labels for p in parts]),
        )


def negative_centre(
    rows: np.ndarray, box: Letterbox, frame_shape: tuple[int, ...], rng: np.random.Generator
) -> tuple[float, float] | None:
    """A canvas point on the frame, farther than ``FAR`` radii from every dish centre."""
    height, width = frame_shape[:2]
    x0, y0 = box.to_input(0.0, 0.0)
    x1, y1 = box.to_input(float(width), float(height))
    for _ in range(20):
        cx, cy = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
        if len(rows) == 0:
            return cx, cy
        ratio = np.hypot(rows[:, 0] - cx, rows[:, 1] - cy) / np.maximum(rows[:, 5], 1e-3)
        if float(ratio.min()) > FAR:
            return cx, cy
    return None


#: A background cell whose colour differs from the tray reference by more than this (0..255,
#: any channel) is clutter: a spoon, chopsticks, a napkin, a receipt, the tray's edge.
CLUTTER_CONTRAST: Final = 40.0


def clutter_centre(
    canvas: np.ndarray,
    cells: np.ndarray,
    reference: np.ndarray,
    rows: np.ndarray,
    rng: np.random.Generator,
) -> tuple[float, float] | None:
    """A canvas point on clutter (a background cell unlike the tray), farther than ``FAR``
    radii from every dish centre, or None when the tray holds no such thing. The costly false
    dish is not bare tray but a thing that looks like a dish: a soup spoon's bowl, a napkin."""
    colours = cv2.resize(canvas, (GRID_WIDTH, GRID_HEIGHT), interpolation=cv2.INTER_AREA)
    contrast = np.abs(colours.astype(np.float32) - reference[None, None]).max(axis=2)
    ys, xs = np.nonzero((cells == SEG_BACKGROUND) & (contrast > CLUTTER_CONTRAST))
    if len(ys) == 0:
        return None
    cx = (xs + 0.5) * STRIDE
    cy = (ys + 0.5) * STRIDE
    if len(rows):
        dx = cx[:, None] - rows[None, :, 0]
        dy = cy[:, None] - rows[None, :, 1]
        ratio = np.hypot(dx, dy) / np.maximum(rows[None, :, 5], 1e-3)
        far = ratio.min(axis=1) > FAR
        cx, cy = cx[far], cy[far]
    if len(cx) == 0:
        return None
    k = int(rng.integers(len(cx)))
    return float(cx[k]), float(cy[k])


def tray_samples(
    frame: np.ndarray,
    *,
    canvas: np.ndarray,
    cells: np.ndarray,
    box: Letterbox,
    rows: np.ndarray,
    rng: np.random.Generator,
) -> CropSamples:
    """The crop-classifier samples of one rendered ``frame``, placed on ``canvas`` by ``box``;
    ``cells`` is its true per-cell class map, ``rows`` its dishes in canvas pixels (cx, cy,
    w, h, label index, radius)."""
    reference = tray_reference(
        canvas, (cells == SEG_BACKGROUND).astype(np.float32), box, frame.shape
    )
    crops, labels = [], []
    for row in rows:
        unknown = int(row[4]) == LABELS.index(UNKNOWN)
        for _ in range(CROPS_PER_UNKNOWN_DISH if unknown else CROPS_PER_DISH):
            jitter = rng.normal(0.0, 1.0, 4)
            w = float(row[2] * np.exp(SIZE_JITTER * jitter[2]))
            h = float(row[3] * np.exp(SIZE_JITTER * jitter[3]))
            cx = float(row[0] + CENTRE_JITTER * row[2] * jitter[0])
            cy = float(row[1] + CENTRE_JITTER * row[3] * jitter[1])
            crops.append(crop_dish(frame, box, (cx, cy), (w, h)))
            labels.append(int(row[4]))
    centres = [
        (negative_centre(rows, box, frame.shape, rng), 0.0),
        (clutter_centre(canvas, cells, reference, rows, rng), -0.3),
    ]
    for centre, log_scale in centres:
        if centre is None:
            continue
        if len(rows):
            pick = rows[int(rng.integers(len(rows)))]
            w, h = float(pick[2]), float(pick[3])
        else:
            w = h = 0.3 * canvas.shape[0]
        scale = float(np.exp(rng.normal(log_scale, 0.3)))
        crops.append(crop_dish(frame, box, centre, (w * scale, h * scale)))
        labels.append(NOT_A_DISH)
    return CropSamples(
        np.stack(crops) if crops else np.zeros((0, CROP_SIDE, CROP_SIDE, 3), np.uint8),
        np.tile(reference[None], (len(crops), 1)).astype(np.float32),
        np.array(labels, np.int64),
    )
