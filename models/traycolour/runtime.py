"""Run-time tray recogniser for the self-checkout: numpy, OpenCV and onnxruntime only.

Example::

    recognizer = TrayRecognizer()            # the model committed next to this module
    result = recognizer.recognize(load_image(path))
    if result.needs_staff:
        ...                                  # call staff instead of billing
    else:
        bill(item.colour for item in result.items)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

import cv2
import numpy as np
import onnxruntime as ort

from models.traycolour.decode import Decoded, Thresholds, decode
from models.traycolour.palette import UNKNOWN
from models.traycolour.preprocess import Letterbox, letterbox

DEFAULT_MODEL_PATH: Final = Path(__file__).with_name("traycolour.onnx")
#: Frames smaller than this on either side carry too little to judge a dish's colour.
MIN_SIDE: Final = 64


class NetworkOutputs(NamedTuple):
    """The network's output maps for one frame (batch axis removed)."""

    heat: np.ndarray  # GH x GW, dish-centre probability
    geometry: np.ndarray  # 4 x GH x GW: log width, log height (cells), centre offset x, y
    classes: np.ndarray  # C x GH x GW, per-cell class probabilities
    dish_logits: np.ndarray  # 10 x GH x GW: per-cell dish-colour logits, attention logit last


class InvalidImageError(ValueError):
    """The image cannot be recognised: empty, wrong type, wrong shape or too small."""


class UnreadableImageError(InvalidImageError):
    """The file exists but does not decode as an image (corrupt, truncated, not an image)."""


@dataclass(frozen=True)
class Item:
    """One dish on the tray. Coordinates are pixels of the frame passed to ``recognize``."""

    colour: str  # one of the eight colours, or "unknown"
    centre: tuple[float, float]  # x, y
    radius: float  # radius of the circle inscribed in the mean of the box's sides
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    confidence: float  # probability of the dish's best colour class (0..1)
    detection_score: float  # centre heat-map peak (0..1)


@dataclass(frozen=True)
class Recognition:
    """The answer for one tray."""

    items: tuple[Item, ...]
    needs_staff: bool
    reasons: tuple[str, ...]  # why staff is needed; empty when the tray can be billed
    model_version: str

    @property
    def colours(self) -> list[str]:
        """The tray-level answer: the items' colours, sorted."""
        return sorted(item.colour for item in self.items)


def load_image(path: Path | str) -> np.ndarray:
    """Read an image file as 8-bit BGR.

    Raises ``FileNotFoundError`` when there is no such file and ``UnreadableImageError`` when
    its bytes are not a decodable image.
    """
    data = Path(path).read_bytes()
    if not data:
        msg = f"{path}: the file is empty"
        raise UnreadableImageError(msg)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        msg = f"{path}: not a decodable image (corrupt, truncated or of an unknown format)"
        raise UnreadableImageError(msg)
    return np.asarray(image, dtype=np.uint8)


def _check_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        msg = f"expected a numpy array, got {type(image).__name__}"
        raise InvalidImageError(msg)
    if image.size == 0:
        msg = "the image is empty"
        raise InvalidImageError(msg)
    if image.dtype != np.uint8:
        msg = f"expected dtype uint8 (8-bit BGR), got {image.dtype}"
        raise InvalidImageError(msg)
    if image.ndim != 3 or image.shape[2] != 3:
        msg = f"expected an H x W x 3 BGR image, got shape {image.shape}"
        raise InvalidImageError(msg)
    if min(image.shape[:2]) < MIN_SIDE:
        msg = f"image is {image.shape[1]}x{image.shape[0]}, each side must be >= {MIN_SIDE} px"
        raise InvalidImageError(msg)
    return image


class TrayRecognizer:
    """Finds the dishes on a tray and tells their colours; thread-compatible, not thread-safe."""

    def __init__(self, model_path: Path | None = None, *, threads: int = 1) -> None:
        path = model_path if model_path is not None else DEFAULT_MODEL_PATH
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        self._thresholds = (
            Thresholds.from_json(meta["thresholds"]) if "thresholds" in meta else Thresholds()
        )
        self._input = self._session.get_inputs()[0].name
        self._outputs = ["heat", "geometry", "classes", "dish_logits"]
        self._version = f"{meta.get('name', path.stem)}-{digest[:12]}"

    @property
    def model_version(self) -> str:
        """Model name and the first 12 hex digits of the file's sha256."""
        return self._version

    @property
    def thresholds(self) -> Thresholds:
        """The decision thresholds in force (from the model's metadata)."""
        return self._thresholds

    def infer(self, image_bgr: np.ndarray) -> tuple[NetworkOutputs, Letterbox]:
        """Lower level: the network's four output maps for one frame, and the letterbox used."""
        image = _check_image(image_bgr)
        canvas, box = letterbox(image)
        heat, geometry, classes, dish_logits = self._session.run(
            self._outputs, {self._input: canvas[None]}
        )
        return NetworkOutputs(heat[0, 0], geometry[0], classes[0], dish_logits[0]), box

    def decode_frame(self, image_bgr: np.ndarray) -> tuple[Decoded, Letterbox]:
        """Lower level: decoded dishes in input-canvas pixels, and the letterbox used."""
        outputs, box = self.infer(image_bgr)
        return decode(*outputs, self._thresholds), box

    def recognize(self, image_bgr: np.ndarray) -> Recognition:
        """Recognise one frame (H x W x 3 uint8 BGR, any size from 320x240 to 1920x1080)."""
        decoded, box = self.decode_frame(image_bgr)
        scale = box.scale
        items = []
        for dish in decoded.dishes:
            cx, cy = box.to_frame(dish.cx, dish.cy)
            half_w, half_h = 0.5 * dish.width / scale, 0.5 * dish.height / scale
            items.append(
                Item(
                    colour=dish.colour,
                    centre=(cx, cy),
                    radius=0.5 * (half_w + half_h),
                    box=(cx - half_w, cy - half_h, cx + half_w, cy + half_h),
                    confidence=dish.confidence,
                    detection_score=dish.score,
                )
            )
        items.sort(key=lambda item: (item.centre[1], item.centre[0]))
        reasons = []
        if not items:
            reasons.append("no dish found")
        if len(items) > self._thresholds.max_items:
            reasons.append(f"{len(items)} dishes, more than {self._thresholds.max_items}")
        if any(item.colour == UNKNOWN for item in items):
            reasons.append("a dish of unknown or doubtful colour")
        if decoded.doubtful_peaks:
            reasons.append("something that may or may not be a dish")
        return Recognition(
            items=tuple(items),
            needs_staff=bool(reasons),
            reasons=tuple(reasons),
            model_version=self._version,
        )
