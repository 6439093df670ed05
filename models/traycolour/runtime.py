"""Run-time tray recogniser for the self-checkout: numpy, OpenCV and onnxruntime only.

Two networks: the first (``traycolour.onnx``) finds the dishes on the 256x192 letterboxed
frame; the second (``traycolour_crops.onnx``, named and pinned by its sha256 in the first's
metadata) looks at each candidate unrolled around its centre from the full-resolution frame
(``crops.rim_strip``), with the tray's colour as a white-balance reference, and tells its
colour, "unknown" or "not a dish". Both files are checked against their ``.sha256`` files
when loaded.

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
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

import cv2
import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from models.traycolour.crop_samples import CROP_CLASSES
from models.traycolour.crops import STRIP_ANGLES, STRIP_ROWS, rim_strip, tray_reference
from models.traycolour.decode import (
    Decoded,
    Evidence,
    Peaks,
    Thresholds,
    decide,
    find_peaks,
    gather,
)
from models.traycolour.decode import staff_reasons as _staff_reasons
from models.traycolour.palette import SEG_BACKGROUND, UNKNOWN
from models.traycolour.preprocess import Letterbox, letterbox
from models.traycolour.selftest import SELF_TEST_FAILED, SelfTest
from models.traycolour.selftest import run as run_self_test

DEFAULT_MODEL_PATH: Final = Path(__file__).with_name("traycolour.onnx")
#: Frames smaller than this on either side carry too little to judge a dish's colour.
MIN_SIDE: Final = 64


class NetworkOutputs(NamedTuple):
    """The network's output maps for one frame (batch axis removed)."""

    heat: np.ndarray  # GH x GW, dish-centre probability
    geometry: np.ndarray  # 4 x GH x GW: log width, log height (cells), centre offset x, y
    classes: np.ndarray  # C x GH x GW, per-cell class probabilities
    dish_logits: np.ndarray  # 10 x GH x GW: per-cell dish-colour logits, attention logit last


class Candidates(NamedTuple):
    """A frame's candidate dishes before any threshold: what the calibration re-judges."""

    outputs: NetworkOutputs
    peaks: Peaks  # heat-map peaks at or above the floor asked for, strongest first
    crop: np.ndarray | None  # K x CROP_CLASSES crop-classifier probabilities (None: no stage)
    box: Letterbox

    def evidence(self, *, detect: float, head_weight: float) -> Evidence:
        """The candidates' pooled and fused evidence (``decode.gather``) at these settings."""
        return gather(
            self.outputs.classes,
            self.outputs.dish_logits,
            self.peaks,
            self.crop,
            detect=detect,
            head_weight=head_weight,
        )


class ModelIntegrityError(RuntimeError):
    """A model file does not match its recorded sha256, or the pair does not belong together."""


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
    #: The most likely label before the thresholds (one of the eight colours, or "unknown"):
    #: ``colour`` when the dish is sure, and for a dish answered unknown the first guess a
    #: member of staff checks. Never billed as such.
    guess: str = UNKNOWN


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


def read_verified(path: Path, expected: str | None = None) -> tuple[bytes, str]:
    """The bytes of a model file and their sha256, checked against ``path.sha256`` (written by
    the export) and, when given, against ``expected``; ``ModelIntegrityError`` otherwise."""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sidecar = path.with_name(path.name + ".sha256")
    try:
        recorded = sidecar.read_text().split()[0]
    except (OSError, IndexError) as exc:
        msg = f"{path}: cannot read its checksum file {sidecar.name} ({exc})"
        raise ModelIntegrityError(msg) from exc
    if recorded != digest:
        msg = f"{path}: sha256 {digest[:12]}... does not match {sidecar.name} ({recorded[:12]}...)"
        raise ModelIntegrityError(msg)
    if expected is not None and expected != digest:
        msg = f"{path}: sha256 {digest[:12]}... is not the {expected[:12]}... its pair expects"
        raise ModelIntegrityError(msg)
    return data, digest


#: What onnxruntime raises for a file that is no model it can run.
_UNLOADABLE: Final = (
    ort_state.InvalidProtobuf,
    ort_state.InvalidGraph,
    ort_state.InvalidArgument,
    ort_state.Fail,
)


def _session(data: bytes, threads: int, path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except _UNLOADABLE as exc:
        msg = f"{path}: not an ONNX model onnxruntime can load ({str(exc).strip()})"
        raise ModelIntegrityError(msg) from exc


def crop_session(path: Path, threads: int = 1) -> ort.InferenceSession:
    """A session of a crop classifier on its own (checked against its ``.sha256``), for
    studying it apart from the first network it was paired with (``crop_study``)."""
    data, _ = read_verified(path)
    return _session(data, threads, path)


def _precision(meta: dict[str, str]) -> str:
    # Exports before quantisation recorded no precision: they were float32.
    return meta.get("precision", "float32")


#: Strips classified per call of the crop model (its exported batch axis allows up to 64).
_CROP_BATCH: Final = 32


def classify_batches(
    session: ort.InferenceSession, strips: np.ndarray, references: np.ndarray
) -> np.ndarray:
    """A crop model's probabilities (N x CROP_CLASSES) for rim ``strips`` and their
    ``references``, ``_CROP_BATCH`` at a time."""
    if len(strips) == 0:
        return np.zeros((0, CROP_CLASSES), np.float32)
    parts = [
        session.run(
            None,
            {
                "strips": strips[i : i + _CROP_BATCH],
                "reference": references[i : i + _CROP_BATCH],
            },
        )[0]
        for i in range(0, len(strips), _CROP_BATCH)
    ]
    return np.asarray(np.concatenate(parts), np.float32)


class TrayRecognizer:
    """Finds the dishes on a tray and tells their colours; thread-compatible, not thread-safe."""

    def __init__(self, model_path: Path | None = None, *, threads: int = 1) -> None:
        path = model_path if model_path is not None else DEFAULT_MODEL_PATH
        data, digest = read_verified(path)
        self._session = _session(data, threads, path)
        meta = self._session.get_modelmeta().custom_metadata_map
        self._thresholds = (
            Thresholds.from_json(meta["thresholds"]) if "thresholds" in meta else Thresholds()
        )
        self._input = self._session.get_inputs()[0].name
        self._outputs = ["heat", "geometry", "classes", "dish_logits"]
        missing = set(self._outputs) - {o.name for o in self._session.get_outputs()}
        if missing:
            msg = f"{path}: not a tray-colour model (no output {', '.join(sorted(missing))})"
            raise ModelIntegrityError(msg)
        self._crop_session: ort.InferenceSession | None = None
        self._files: tuple[Path, ...] = (path,)
        self._precision: tuple[str, ...] = (_precision(meta),)
        digests = digest
        if "crop_model" in meta:
            pinned = json.loads(meta["crop_model"])
            crop_path = path.with_name(pinned["file"])
            crop_data, crop_digest = read_verified(crop_path, pinned["sha256"])
            self._files = (path, crop_path)
            self._crop_session = _session(crop_data, threads, crop_path)
            self._precision += (_precision(self._crop_session.get_modelmeta().custom_metadata_map),)
            digests += crop_digest
        # One version for the pair: a change of either network is a new model.
        version = hashlib.sha256(digests.encode()).hexdigest() if self._crop_session else digest
        self._version = f"{meta.get('name', path.stem)}-{version[:12]}"
        # Last: it runs the pair on the self-test's trays (selftest.py).
        self._self_test = run_self_test(self)

    @property
    def model_version(self) -> str:
        """Model name and 12 hex digits: of the file's sha256 for a single network, of the
        sha256 of both files' digests for a model with its crop classifier."""
        return self._version

    @property
    def self_test(self) -> SelfTest:
        """How the pair's self-test went on this CPU when it was loaded. When it failed,
        every tray needs staff (``selftest.SELF_TEST_FAILED``)."""
        return self._self_test

    @property
    def thresholds(self) -> Thresholds:
        """The decision thresholds in force (from the model's metadata)."""
        return self._thresholds

    @property
    def model_files(self) -> tuple[Path, ...]:
        """The model's files: the first network, then the crop classifier if it has one."""
        return self._files

    @property
    def precision(self) -> tuple[str, ...]:
        """Each model file's arithmetic, as its export recorded it ("int8" or "float32"), in
        the order of ``model_files``."""
        return self._precision

    @property
    def has_crop_stage(self) -> bool:
        """True when the model has its second stage, the crop classifier."""
        return self._crop_session is not None

    def _first(self, image: np.ndarray) -> tuple[NetworkOutputs, np.ndarray, Letterbox]:
        canvas, box = letterbox(image)
        heat, geometry, classes, dish_logits = self._session.run(
            self._outputs, {self._input: canvas[None]}
        )
        return NetworkOutputs(heat[0, 0], geometry[0], classes[0], dish_logits[0]), canvas, box

    def infer(self, image_bgr: np.ndarray) -> tuple[NetworkOutputs, Letterbox]:
        """Lower level: the first network's four output maps for one frame, and the letterbox."""
        outputs, _, box = self._first(_check_image(image_bgr))
        return outputs, box

    def cut_crops(
        self,
        image: np.ndarray,
        canvas: np.ndarray,
        outputs: NetworkOutputs,
        box: Letterbox,
        peaks: Peaks,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower level: the crop classifier's inputs for ``peaks``: their rim strips (K x
        STRIP_ROWS x STRIP_ANGLES x 3 uint8) and the frame's tray reference, once per strip (K x
        3 float32)."""
        reference = tray_reference(canvas, outputs.classes[SEG_BACKGROUND], box, image.shape)
        crops = np.empty((len(peaks), STRIP_ROWS, STRIP_ANGLES, 3), np.uint8)
        for k in range(len(peaks)):
            crops[k] = rim_strip(
                image,
                box,
                (float(peaks.cx[k]), float(peaks.cy[k])),
                (float(peaks.width[k]), float(peaks.height[k])),
            )
        return crops, np.tile(reference[None], (len(peaks), 1))

    def classify_crops(
        self,
        image: np.ndarray,
        canvas: np.ndarray,
        outputs: NetworkOutputs,
        box: Letterbox,
        peaks: Peaks,
    ) -> np.ndarray:
        """Lower level: the crop classifier's probabilities (K x CROP_CLASSES) for ``peaks``."""
        session = self._crop_session
        if session is None:
            msg = "this model has no crop stage"
            raise RuntimeError(msg)
        if len(peaks) == 0:
            return np.zeros((0, CROP_CLASSES), np.float32)
        crops, references = self.cut_crops(image, canvas, outputs, box, peaks)
        return classify_batches(session, crops, references)

    def candidates(self, image_bgr: np.ndarray, floor: float | None = None) -> Candidates:
        """Lower level: the first network's maps, its peaks down to ``floor`` (default: the
        ``doubt`` threshold) and the crop classifier's opinion of each."""
        image = _check_image(image_bgr)
        outputs, canvas, box = self._first(image)
        peaks = find_peaks(
            outputs.heat, outputs.geometry, self._thresholds.doubt if floor is None else floor
        )
        crop = (
            self.classify_crops(image, canvas, outputs, box, peaks)
            if self._crop_session is not None
            else None
        )
        return Candidates(outputs, peaks, crop, box)

    def decode_frame(self, image_bgr: np.ndarray) -> tuple[Decoded, Letterbox]:
        """Lower level: decoded dishes in input-canvas pixels, and the letterbox used."""
        found = self.candidates(image_bgr)
        return self.judge_candidates(found), found.box

    def judge_candidates(self, found: Candidates) -> Decoded:
        """Lower level: the thresholds in force applied to a frame's ``candidates``."""
        t = self._thresholds
        return decide(found.evidence(detect=t.detect, head_weight=t.head_weight), t)

    def recognize(self, image_bgr: np.ndarray) -> Recognition:
        """Recognise one frame (H x W x 3 uint8 BGR, any size from 320x240 to 1920x1080)."""
        return self.recognition(*self.decode_frame(image_bgr))

    def recognition(self, decoded: Decoded, box: Letterbox) -> Recognition:
        """Lower level: the answer for a frame that ``decode_frame`` decoded."""
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
                    guess=dish.best,
                )
            )
        items.sort(key=lambda item: (item.centre[1], item.centre[0]))
        reasons = _staff_reasons(decoded, self._thresholds)
        if self._self_test.failed:
            reasons = (*reasons, SELF_TEST_FAILED)
        return Recognition(
            items=tuple(items),
            needs_staff=bool(reasons),
            reasons=tuple(reasons),
            model_version=self._version,
        )
