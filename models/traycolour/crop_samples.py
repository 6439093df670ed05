"""Training samples of the crop classifier, cut while a training tray is rendered.

The samples are rim strips (``crops.rim_strip``) cut from the full-resolution frame in the
rendering worker, so the frames need not be kept (they would take several GB for the training
set). Each true dish gives ``CROPS_PER_DISH`` strips around its box, shifted and resized as the
first network's boxes are (centre error about 5 % of the box, size error about 8 %); each tray
gives two "not a dish" strips well away from every dish centre, sized about like the tray's
dishes: one anywhere (tray, the gap between two bowls, the edge of a dish), one on clutter if
the tray has any (chopsticks, crumbs, the tray's edge). Dishes of an unknown colour or pattern
give ``CROPS_PER_UNKNOWN_DISH`` strips. And each decoy the renderer drew (a soup spoon's bowl,
a napkin: ``TrayLabel.decoys``) gives ``CROPS_PER_DECOY`` strips cut as tightly around it as
the first network's box around a dish: that is what the first network hands over when it takes
one for a dish, and without such samples the crop classifier called spoons and napkins dishes
with full confidence.

Each sample is labelled with the *kind* of dish drawn (``KINDS``: the eight colours, pink,
brown, grey, cyan, patterned, half-and-half), not only with the answer the checkout gives
(``LABELS``, where the last six are all ``unknown``). "Unknown" is six unlike things; a class
that held them all would be a wide, shapeless region that any unfamiliar look falls into, and
a white plate under an odd light would more often land there than in "grey" or "white".
Trained on the kinds, the classifier's export adds the six up (``KIND_TO_LABEL``).

The tray reference is taken as at run time (``crops.tray_reference``), with the true
background cells standing in for the first network's confident background: the run time's
rule (background probability >= 0.8) picks the same cells up to its errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import cv2
import numpy as np

from models.traycolour.crops import STRIP_ANGLES, STRIP_ROWS, rim_strip, tray_reference
from models.traycolour.palette import COLOURS, LABELS, SEG_BACKGROUND, UNKNOWN, UNKNOWN_FAMILIES
from models.traycolour.preprocess import GRID_HEIGHT, GRID_WIDTH, STRIDE

if TYPE_CHECKING:
    from models.traycolour.preprocess import Letterbox

#: Label of a crop that shows no dish centred in it; the crop classifier's last class.
NOT_A_DISH: Final = len(LABELS)
#: What the exported crop classifier answers: the checkout's labels and "not a dish".
CROP_CLASSES: Final = len(LABELS) + 1
#: What it is trained to tell apart: every kind of dish the renderers draw.
KINDS: Final[tuple[str, ...]] = (*COLOURS, *UNKNOWN_FAMILIES, "patterned", "half-and-half")
NOT_A_DISH_KIND: Final = len(KINDS)
KIND_CLASSES: Final = len(KINDS) + 1
#: KIND_CLASSES -> CROP_CLASSES: a colour stays itself, the other kinds are unknown.
KIND_TO_LABEL: Final[tuple[int, ...]] = (
    *range(len(COLOURS)),
    *(LABELS.index(UNKNOWN) for _ in KINDS[len(COLOURS) :]),
    NOT_A_DISH,
)
CROPS_PER_DISH: Final = 2
#: Dishes of an unknown colour or pattern are rarer (about one in eight) and the costly
#: mistake (a patterned or grey dish billed as a colour): they give twice as many crops.
CROPS_PER_UNKNOWN_DISH: Final = 4
#: A decoy is the costliest thing that is not a dish (billed as one, or sending a tray to
#: staff as "something that may or may not be a dish"): as many strips as a dish.
CROPS_PER_DECOY: Final = 2
#: Centre shift (share of the box side) and log-size spread of the simulated detector boxes.
CENTRE_JITTER: Final = 0.05
SIZE_JITTER: Final = 0.08
#: A "not a dish" crop is centred farther than this many radii from every true dish centre.
FAR: Final = 0.8


def kind_index(family: str) -> int:
    """The ``KINDS`` index of a dish drawn as ``family`` (an ``ItemLabel.family``)."""
    return KINDS.index(family)


@dataclass(frozen=True)
class CropSamples:
    """Rim strips, the tray reference of their frame, and their kinds (``KIND_CLASSES``)."""

    crops: np.ndarray  # N x STRIP_ROWS x STRIP_ANGLES x 3 uint8 BGR
    references: np.ndarray  # N x 3 float32 BGR 0..255
    labels: np.ndarray  # N int64, KINDS index or NOT_A_DISH_KIND

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


def _jittered(
    frame: np.ndarray, box: Letterbox, row: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A strip around the box ``row`` (cx, cy, w, h in canvas pixels), shifted and resized as
    the first network's boxes are."""
    jitter = rng.normal(0.0, 1.0, 4)
    w = float(row[2] * np.exp(SIZE_JITTER * jitter[2]))
    h = float(row[3] * np.exp(SIZE_JITTER * jitter[3]))
    cx = float(row[0] + CENTRE_JITTER * row[2] * jitter[0])
    cy = float(row[1] + CENTRE_JITTER * row[3] * jitter[1])
    return rim_strip(frame, box, (cx, cy), (w, h))


def _clear_of_dishes(decoy: np.ndarray, rows: np.ndarray) -> bool:
    """True when a decoy's centre lies farther than ``FAR`` radii from every dish centre: a
    spoon resting in a bowl is part of that bowl's picture, not a thing of its own."""
    if len(rows) == 0:
        return True
    ratio = np.hypot(rows[:, 0] - decoy[0], rows[:, 1] - decoy[1]) / np.maximum(rows[:, 5], 1e-3)
    return bool(ratio.min() > FAR)


def tray_samples(
    frame: np.ndarray,
    *,
    canvas: np.ndarray,
    cells: np.ndarray,
    box: Letterbox,
    rows: np.ndarray,
    rng: np.random.Generator,
    decoys: np.ndarray | None = None,
) -> CropSamples:
    """The crop-classifier samples of one rendered ``frame``, placed on ``canvas`` by ``box``;
    ``cells`` is its true per-cell class map, ``rows`` its dishes in canvas pixels (cx, cy,
    w, h, label index, radius, kind index), ``decoys`` the boxes of things that could pass
    for a dish (cx, cy, w, h in canvas pixels)."""
    reference = tray_reference(
        canvas, (cells == SEG_BACKGROUND).astype(np.float32), box, frame.shape
    )
    crops, labels = [], []
    for row in rows:
        unknown = int(row[4]) == LABELS.index(UNKNOWN)
        for _ in range(CROPS_PER_UNKNOWN_DISH if unknown else CROPS_PER_DISH):
            crops.append(_jittered(frame, box, row, rng))
            labels.append(int(row[6]))
    for decoy in decoys if decoys is not None else ():
        if _clear_of_dishes(decoy, rows):
            for _ in range(CROPS_PER_DECOY):
                crops.append(_jittered(frame, box, decoy, rng))
                labels.append(NOT_A_DISH_KIND)
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
        crops.append(rim_strip(frame, box, centre, (w * scale, h * scale)))
        labels.append(NOT_A_DISH_KIND)
    return CropSamples(
        np.stack(crops) if crops else np.zeros((0, STRIP_ROWS, STRIP_ANGLES, 3), np.uint8),
        np.tile(reference[None], (len(crops), 1)).astype(np.float32),
        np.array(labels, np.int64),
    )
