"""From the network's output maps to dishes with colours (NumPy and OpenCV only).

1. Dish centres are the local maxima of the heat map (3x3), refined by the offset head; the
   size head gives each dish's box.
2. Every output cell inside a dish's ellipse (inscribed in its box) belongs to the nearest dish
   in ellipse-normalised distance, so touching dishes do not share cells (``membership``).
3. A dish's colour logits are the average of the per-cell dish-colour logits over its cells,
   weighted by the network's per-cell attention (``exp`` of its attention logit). The network
   was trained through exactly this pooling, so the pooled logits are a calibrated dish-level
   answer and the attention learns to look where the colour shows: the rim and the visible
   dish surface, not the food.
4. A second opinion comes from the per-cell classes (trained per pixel: each half of a
   half-and-half dish is its own colour, a pattern is "other"), pooled over the same cells.
5. The colour is ``unknown`` when the dish head says "other colour or pattern", when its
   probability is below ``min_confidence``, when too little dish surface is visible, or (as
   calibrated) when the per-cell opinion disagrees or is split below ``min_surface_share``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from models.traycolour.palette import LABELS, SEG_FIRST_DISH, UNKNOWN
from models.traycolour.preprocess import GRID_HEIGHT, GRID_WIDTH, STRIDE

_CELL_X = (np.arange(GRID_WIDTH, dtype=np.float32) + 0.5) * STRIDE
_CELL_Y = (np.arange(GRID_HEIGHT, dtype=np.float32) + 0.5) * STRIDE
_KERNEL = np.ones((3, 3), dtype=np.uint8)
#: Attention logits are clamped to +-ATTENTION_CLAMP before ``exp`` (training does the same).
ATTENTION_CLAMP = 15.0


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds; the values in the ONNX metadata override these defaults."""

    detect: float = 0.35  # heat-map peak at or above which a dish is counted
    doubt: float = 0.15  # a peak between ``doubt`` and ``detect`` sends the tray to staff
    min_confidence: float = 0.8  # softmax probability of the winning colour
    min_visible: float = 0.12  # dish-surface probability mass per cell of the dish's ellipse
    min_surface_share: float = 0.0  # share of the per-cell vote won by its top label
    agree: bool = False  # the per-cell top label must equal the dish head's
    max_items: int = 6

    def to_json(self) -> str:
        """Serialised for the model's metadata."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Thresholds:
        """Inverse of :meth:`to_json`; unknown keys are ignored."""
        raw = json.loads(text)
        known = {k: raw[k] for k in asdict(cls()) if k in raw}
        return cls(**known)


@dataclass(frozen=True)
class Dish:
    """One decoded dish, in input-canvas pixels."""

    cx: float
    cy: float
    width: float
    height: float
    score: float  # heat-map peak
    colour: str  # the answer: one of COLOURS or "unknown"
    best: str  # the dish head's top label before any threshold
    confidence: float  # its probability
    visible: float  # dish-surface mass per cell of the dish's ellipse
    surface: str  # top label of the per-cell classes pooled over the dish
    surface_share: float  # its share of that vote


def judge(
    best: str,
    *,
    confidence: float,
    visible: float,
    surface: str,
    surface_share: float,
    thresholds: Thresholds,
) -> str:
    """The answer for one dish: its best colour, or ``unknown`` when any check fails."""
    doubtful = (
        best == UNKNOWN
        or confidence < thresholds.min_confidence
        or visible < thresholds.min_visible
        or surface_share < thresholds.min_surface_share
        or (thresholds.agree and surface != best)
    )
    return UNKNOWN if doubtful else best


@dataclass(frozen=True)
class Decoded:
    """All dishes of a frame, and whether any peak was too doubtful to call."""

    dishes: tuple[Dish, ...]
    doubtful_peaks: int


def _peaks(heat: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    maxed = cv2.dilate(heat, _KERNEL)
    ys, xs = np.nonzero((heat >= maxed) & (heat >= floor))
    order = np.argsort(-heat[ys, xs], kind="stable")
    return ys[order], xs[order]


def membership(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """K x GH x GW: 1 where a cell lies in dish k's ellipse and k is the nearest dish."""
    dx = (_CELL_X[None, None, :] - cx[:, None, None]) / (0.5 * w[:, None, None])
    dy = (_CELL_Y[None, :, None] - cy[:, None, None]) / (0.5 * h[:, None, None])
    dist = dx * dx + dy * dy
    owner = np.argmin(dist, axis=0)
    member = (owner[None] == np.arange(len(cx))[:, None, None]) & (dist <= 1.0)
    return np.asarray(member, dtype=np.float32)


def decode(
    heat: np.ndarray,
    geometry: np.ndarray,
    classes: np.ndarray,
    dish_logits: np.ndarray,
    thresholds: Thresholds,
) -> Decoded:
    """Decode one frame: heat (GH x GW), geometry (4 x ..), classes (C x ..), dish logits with
    the attention logit last (10 x ..)."""
    ys, xs = _peaks(heat, thresholds.doubt)
    scores = heat[ys, xs]
    cx = (xs + 0.5 + geometry[2, ys, xs]) * STRIDE
    cy = (ys + 0.5 + geometry[3, ys, xs]) * STRIDE
    w = np.exp(geometry[0, ys, xs]) * STRIDE
    h = np.exp(geometry[1, ys, xs]) * STRIDE
    # A second peak inside a stronger dish's core is the same dish.
    keep: list[int] = []
    for i in range(len(scores)):
        inside = any(
            ((cx[i] - cx[j]) / (0.5 * w[j])) ** 2 + ((cy[i] - cy[j]) / (0.5 * h[j])) ** 2 < 0.25
            for j in keep
        )
        if not inside:
            keep.append(i)
    sure = [i for i in keep if scores[i] >= thresholds.detect]
    doubtful = len(keep) - len(sure)
    if not sure:
        return Decoded((), doubtful)
    idx = np.array(sure)
    cx, cy, w, h, scores = cx[idx], cy[idx], w[idx], h[idx], scores[idx]

    member = membership(cx, cy, w, h).reshape(len(idx), -1)
    dishness = classes[SEG_FIRST_DISH:].sum(axis=0).reshape(-1)
    mass = member @ dishness  # how much dish surface shows, for min_visible
    flat = dish_logits.reshape(dish_logits.shape[0], -1)
    attention = np.exp(np.clip(flat[-1], -ATTENTION_CLAMP, ATTENTION_CLAMP))
    weights = member * attention[None, :]
    pooled = (weights @ flat[:-1].T) / (weights.sum(axis=1)[:, None] + 1e-6)
    pooled -= pooled.max(axis=1, keepdims=True)
    probs = np.exp(pooled)
    probs /= probs.sum(axis=1, keepdims=True)
    area = np.maximum(member.sum(axis=1), 1.0)
    surface_votes = member @ classes[SEG_FIRST_DISH:].reshape(len(LABELS), -1).T  # K x labels
    surface_votes /= np.maximum(surface_votes.sum(axis=1, keepdims=True), 1e-6)
    dishes = []
    for k in range(len(idx)):
        best = int(np.argmax(probs[k]))
        top = int(np.argmax(surface_votes[k]))
        confidence = float(probs[k, best])
        visible = float(mass[k] / area[k])
        share = float(surface_votes[k, top])
        colour = judge(
            LABELS[best],
            confidence=confidence,
            visible=visible,
            surface=LABELS[top],
            surface_share=share,
            thresholds=thresholds,
        )
        dishes.append(
            Dish(
                cx=float(cx[k]),
                cy=float(cy[k]),
                width=float(w[k]),
                height=float(h[k]),
                score=float(scores[k]),
                colour=colour,
                best=LABELS[best],
                confidence=confidence,
                visible=visible,
                surface=LABELS[top],
                surface_share=share,
            )
        )
    return Decoded(tuple(dishes), doubtful)
