"""From the two networks' outputs to dishes with colours (NumPy and OpenCV only).

1. Dish centres are the local maxima of the first network's heat map (3x3), refined by the
   offset head; the size head gives each dish's box (``find_peaks``). Peaks at or above
   ``detect`` are dishes, peaks between ``doubt`` and ``detect`` are doubtful.
2. The crop classifier (second stage, ``crops``) has looked at every peak in the
   full-resolution frame and given its probabilities over the eight colours, "unknown" and
   "not a dish"; a peak it calls "not a dish" with probability ``not_a_dish`` or more is
   dropped, whether it was sure or doubtful, and a sure peak it calls "not a dish" with
   probability ``unsure_dish`` or more (but below ``not_a_dish``) counts as doubtful: a white
   napkin the classifier half-takes for a plate sends the tray to staff instead of being
   billed as a white dish.
3. The first network's own opinion (its dish head): every output cell inside a dish's ellipse
   (inscribed in its box) belongs to the nearest dish in ellipse-normalised distance
   (``membership``), and the per-cell dish-colour logits are averaged over a dish's cells,
   weighted by the network's per-cell attention, exactly as in training.
4. The colour is the fused answer: the crop classifier's log-probabilities (renormalised over
   the nine labels) plus ``head_weight`` times the dish head's; ``unknown`` when that says
   "other colour or pattern", when its probability is below ``min_confidence``, when too
   little dish surface is visible, or (as calibrated) when the per-cell segmentation disagrees
   or is split below ``min_surface_share``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from models.traycolour.crop_samples import NOT_A_DISH
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
    head_weight: float = 0.0  # weight of the first network's dish head in the fused colour
    not_a_dish: float = 1.01  # crop "not a dish" probability that drops a peak (> 1: never)
    unsure_dish: float = 1.01  # ... that makes a sure peak doubtful (> 1: never)

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
    not_dish: float = 0.0  # the crop classifier's "not a dish" probability


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


@dataclass(frozen=True)
class Peaks:
    """Candidate dish centres of a frame, strongest first, in input-canvas pixels."""

    cx: np.ndarray
    cy: np.ndarray
    width: np.ndarray
    height: np.ndarray
    score: np.ndarray  # heat-map peak

    def __len__(self) -> int:
        return len(self.score)

    def take(self, idx: np.ndarray) -> Peaks:
        """The peaks at ``idx``."""
        return Peaks(self.cx[idx], self.cy[idx], self.width[idx], self.height[idx], self.score[idx])


def find_peaks(heat: np.ndarray, geometry: np.ndarray, floor: float) -> Peaks:
    """Local maxima of the heat map at or above ``floor``, with their boxes from the geometry
    head; a peak inside a stronger peak's core (half its box) is the same dish and dropped."""
    ys, xs = _peaks(heat, floor)
    scores = heat[ys, xs]
    cx = (xs + 0.5 + geometry[2, ys, xs]) * STRIDE
    cy = (ys + 0.5 + geometry[3, ys, xs]) * STRIDE
    w = np.exp(geometry[0, ys, xs]) * STRIDE
    h = np.exp(geometry[1, ys, xs]) * STRIDE
    keep: list[int] = []
    for i in range(len(scores)):
        inside = any(
            ((cx[i] - cx[j]) / (0.5 * w[j])) ** 2 + ((cy[i] - cy[j]) / (0.5 * h[j])) ** 2 < 0.25
            for j in keep
        )
        if not inside:
            keep.append(i)
    idx = np.array(keep, dtype=np.int64)
    return Peaks(cx[idx], cy[idx], w[idx], h[idx], scores[idx].astype(np.float32))


@dataclass(frozen=True)
class Evidence:
    """What is known of a frame's peaks before the thresholds, one row per peak."""

    peaks: Peaks
    colour: np.ndarray  # K x labels, fused colour probabilities
    not_dish: np.ndarray  # K, the crop classifier's "not a dish" probability (0 without it)
    visible: np.ndarray  # K, dish-surface mass per cell of the dish's ellipse
    surface: np.ndarray  # K, top label index of the per-cell classes pooled over the dish
    surface_share: np.ndarray  # K, its share of that vote


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def gather(
    classes: np.ndarray,
    dish_logits: np.ndarray,
    peaks: Peaks,
    crop: np.ndarray | None,
    *,
    detect: float,
    head_weight: float,
) -> Evidence:
    """Pool the first network's maps over each peak's cells and fuse them with the crop
    classifier's probabilities (``crop``: K x CROP_CLASSES, or None for the first network
    alone). The cells are shared out among the peaks at or above ``detect`` only: a weak
    peak is no dish and takes no dish's cells."""
    k = len(peaks)
    n_labels = len(LABELS)
    head = np.full((k, n_labels), 1.0 / n_labels, np.float32)
    visible = np.zeros(k, np.float32)
    surface = np.zeros(k, np.int64)
    share = np.zeros(k, np.float32)
    sure = np.nonzero(peaks.score >= detect)[0]
    if len(sure):
        chosen = peaks.take(sure)
        member = membership(chosen.cx, chosen.cy, chosen.width, chosen.height)
        member = member.reshape(len(sure), -1)
        dishness = classes[SEG_FIRST_DISH:].sum(axis=0).reshape(-1)
        area = np.maximum(member.sum(axis=1), 1.0)
        visible[sure] = (member @ dishness) / area
        flat = dish_logits.reshape(dish_logits.shape[0], -1)
        attention = np.exp(np.clip(flat[-1], -ATTENTION_CLAMP, ATTENTION_CLAMP))
        weights = member * attention[None, :]
        pooled = (weights @ flat[:-1].T) / (weights.sum(axis=1)[:, None] + 1e-6)
        head[sure] = _softmax(pooled)
        votes = member @ classes[SEG_FIRST_DISH:].reshape(n_labels, -1).T  # K x labels
        votes /= np.maximum(votes.sum(axis=1, keepdims=True), 1e-6)
        surface[sure] = np.argmax(votes, axis=1)
        share[sure] = votes.max(axis=1)
    if crop is None:
        return Evidence(peaks, head, np.zeros(k, np.float32), visible, surface, share)
    colour = crop[:, :n_labels] / np.maximum(crop[:, :n_labels].sum(axis=1, keepdims=True), 1e-9)
    fused = np.log(colour + 1e-6) + head_weight * np.log(head + 1e-6)
    return Evidence(
        peaks, _softmax(fused), crop[:, NOT_A_DISH].astype(np.float32), visible, surface, share
    )


def standing(evidence: Evidence, thresholds: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Which peaks are kept (not dropped) and which of them are sure dishes (bool, K each);
    the kept ones that are not sure are doubtful."""
    peaks = evidence.peaks
    kept = (peaks.score >= thresholds.doubt) & (evidence.not_dish < thresholds.not_a_dish)
    sure = kept & (peaks.score >= thresholds.detect) & (evidence.not_dish < thresholds.unsure_dish)
    return kept, sure


def decide(evidence: Evidence, thresholds: Thresholds) -> Decoded:
    """Apply ``thresholds`` to a frame's evidence."""
    peaks = evidence.peaks
    kept, sure = standing(evidence, thresholds)
    doubtful = int(kept.sum() - sure.sum())
    dishes = []
    for k in np.nonzero(sure)[0]:
        best = int(np.argmax(evidence.colour[k]))
        confidence = float(evidence.colour[k, best])
        visible = float(evidence.visible[k])
        surface = LABELS[int(evidence.surface[k])]
        share = float(evidence.surface_share[k])
        colour = judge(
            LABELS[best],
            confidence=confidence,
            visible=visible,
            surface=surface,
            surface_share=share,
            thresholds=thresholds,
        )
        dishes.append(
            Dish(
                cx=float(peaks.cx[k]),
                cy=float(peaks.cy[k]),
                width=float(peaks.width[k]),
                height=float(peaks.height[k]),
                score=float(peaks.score[k]),
                colour=colour,
                best=LABELS[best],
                confidence=confidence,
                visible=visible,
                surface=surface,
                surface_share=share,
                not_dish=float(evidence.not_dish[k]),
            )
        )
    return Decoded(tuple(dishes), doubtful)


def decode(
    heat: np.ndarray,
    geometry: np.ndarray,
    classes: np.ndarray,
    dish_logits: np.ndarray,
    thresholds: Thresholds,
    *,
    crop: np.ndarray | None = None,
) -> Decoded:
    """Decode one frame: heat (GH x GW), geometry (4 x ..), classes (C x ..), dish logits with
    the attention logit last (10 x ..), and the crop classifier's probabilities for each of
    ``find_peaks(heat, geometry, thresholds.doubt)`` (None: the first network alone)."""
    peaks = find_peaks(heat, geometry, thresholds.doubt)
    evidence = gather(
        classes,
        dish_logits,
        peaks,
        crop,
        detect=thresholds.detect,
        head_weight=thresholds.head_weight,
    )
    return decide(evidence, thresholds)


def staff_reasons(decoded: Decoded, thresholds: Thresholds) -> tuple[str, ...]:
    """Why a tray must go to staff rather than be billed; empty when it can be billed."""
    reasons = []
    if not decoded.dishes:
        reasons.append("no dish found")
    if len(decoded.dishes) > thresholds.max_items:
        reasons.append(f"{len(decoded.dishes)} dishes, more than {thresholds.max_items}")
    if any(dish.colour == UNKNOWN for dish in decoded.dishes):
        reasons.append("a dish of unknown or doubtful colour")
    if decoded.doubtful_peaks:
        reasons.append("something that may or may not be a dish")
    return tuple(reasons)
