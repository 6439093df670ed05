"""The run-time recogniser on generated trays, odd frame sizes and bad input."""

from __future__ import annotations

import hashlib
import re
import shutil
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from models.traycolour.crop_samples import CROP_CLASSES, NOT_A_DISH
from models.traycolour.crops import STRIP_ANGLES, STRIP_ROWS
from models.traycolour.metrics import Prediction, match_items
from models.traycolour.palette import LABELS
from models.traycolour.runtime import (
    DEFAULT_MODEL_PATH,
    InvalidImageError,
    ModelIntegrityError,
    TrayRecognizer,
    UnreadableImageError,
    classify_batches,
    crop_session,
    load_image,
)
from models.traycolour.synth import render_tray

if TYPE_CHECKING:
    from pathlib import Path


def test_sane_items_on_generated_trays(recognizer: TrayRecognizer) -> None:
    right_count = 0
    for seed in range(2_800_000, 2_800_012):
        frame, label = render_tray(seed, size=(640, 480))
        result = recognizer.recognize(frame)
        assert re.fullmatch(r"traycolour-[0-9a-f]{12}", result.model_version)
        assert result.needs_staff == bool(result.reasons)
        for item in result.items:
            assert item.colour in LABELS
            assert 0.0 <= item.confidence <= 1.0
            assert 0.0 <= item.detection_score <= 1.0
            x0, y0, x1, y1 = item.box
            assert x0 < item.centre[0] < x1
            assert y0 < item.centre[1] < y1
            assert -20 < item.centre[0] < 660
            assert -20 < item.centre[1] < 500
            assert 0.2 * (x1 - x0) < item.radius < (x1 - x0)
        right_count += len(result.items) == len(label.items)
        if not result.needs_staff:
            assert "unknown" not in result.colours
    assert right_count >= 10


@pytest.mark.parametrize("size", [(320, 240), (1920, 1080)])
def test_small_and_large_frames(recognizer: TrayRecognizer, size: tuple[int, int]) -> None:
    found = truth = 0
    for seed in range(2_900_000, 2_900_006):
        frame, label = render_tray(seed, size=size)
        result = recognizer.recognize(frame)
        # Positions come back in the frame's own pixels, whatever its size.
        found += len(match_items(label.items, result.items))
        truth += len(label.items)
    assert found >= 0.9 * truth


def test_more_threads_same_answer(recognizer: TrayRecognizer) -> None:
    frame, _ = render_tray(2_800_100, size=(640, 480))
    two = TrayRecognizer(threads=2).recognize(frame)
    one = recognizer.recognize(frame)
    assert one.colours == two.colours
    assert one.model_version == two.model_version


def test_empty_tray_goes_to_staff(recognizer: TrayRecognizer) -> None:
    result = recognizer.recognize(np.full((480, 640, 3), 120, np.uint8))
    assert result.items == ()
    assert result.needs_staff
    assert "no dish found" in result.reasons


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((480, 640, 3), np.float32),
        np.zeros((480, 640), np.uint8),
        np.zeros((480, 640, 4), np.uint8),
        np.zeros((20, 640, 3), np.uint8),
        [[0, 0, 0]],
    ],
    ids=["empty", "float32", "grey", "bgra", "too-small", "list"],
)
def test_invalid_images_raise(recognizer: TrayRecognizer, image: object) -> None:
    with pytest.raises(InvalidImageError):
        recognizer.recognize(image)  # type: ignore[arg-type]
    assert issubclass(InvalidImageError, ValueError)


def test_load_image(tmp_path: Path) -> None:
    frame, _ = render_tray(2_800_200, size=(320, 240))
    good = tmp_path / "tray.png"
    assert cv2.imwrite(str(good), frame)
    loaded = load_image(good)
    assert loaded.dtype == np.uint8
    assert loaded.shape == frame.shape
    assert np.array_equal(loaded, frame)

    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 10)
    with pytest.raises(UnreadableImageError, match="not a decodable image"):
        load_image(corrupt)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(UnreadableImageError):
        load_image(truncated)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableImageError, match="empty"):
        load_image(empty)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")


def test_second_stage_sees_every_candidate(recognizer: TrayRecognizer) -> None:
    assert recognizer.has_crop_stage
    frame, label = render_tray(2_800_300, size=(640, 480))
    found = recognizer.candidates(frame)
    assert found.crop is not None
    assert found.crop.shape == (len(found.peaks), CROP_CLASSES)
    assert np.allclose(found.crop.sum(axis=1), 1.0, atol=1e-4)
    assert len(found.peaks) >= len(label.items)
    # The crop classifier calls the true dishes dishes.
    peaks = found.peaks
    centres = [found.box.to_frame(x, y) for x, y in zip(peaks.cx, peaks.cy, strict=True)]
    matched = match_items(label.items, [Prediction("red", c) for c in centres])
    assert len(matched) == len(label.items)
    for _, j in matched:
        assert found.crop[j, NOT_A_DISH] < 0.5


def _copy_model(tmp_path: Path) -> Path:
    for path in DEFAULT_MODEL_PATH.parent.glob("traycolour*.onnx*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / DEFAULT_MODEL_PATH.name


def test_both_model_files_are_verified_at_load(tmp_path: Path) -> None:
    model = _copy_model(tmp_path)
    crops = tmp_path / "traycolour_crops.onnx"
    assert crops.exists()
    assert TrayRecognizer(model).model_version == TrayRecognizer().model_version

    # A damaged crop model no longer matches its checksum file.
    original = crops.read_bytes()
    crops.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(ModelIntegrityError, match="does not match"):
        TrayRecognizer(model)
    # Nor does it help to rewrite the checksum file: the first model pins the digest.
    damaged = hashlib.sha256(crops.read_bytes()).hexdigest()
    crops.with_name(crops.name + ".sha256").write_text(f"{damaged}  {crops.name}\n")
    with pytest.raises(ModelIntegrityError, match="its pair expects"):
        TrayRecognizer(model)

    crops.write_bytes(original)
    (tmp_path / "traycolour.onnx.sha256").unlink()
    with pytest.raises(ModelIntegrityError, match="checksum file"):
        TrayRecognizer(model)


def _with_checksum(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return path


def test_a_file_that_is_no_tray_model_is_refused_clearly(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    # Bytes that pass their checksum but are no ONNX model at all.
    junk = _with_checksum(tmp_path / "junk.onnx", b"not a model\n")
    with pytest.raises(ModelIntegrityError, match="not an ONNX model onnxruntime can load"):
        TrayRecognizer(junk)
    # A valid ONNX model that is not a tray-colour one.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    other = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    foreign = _with_checksum(tmp_path / "other.onnx", other.SerializeToString())
    onnx.checker.check_model(other)
    with pytest.raises(ModelIntegrityError, match="not a tray-colour model"):
        TrayRecognizer(foreign)


def test_committed_crop_classifier_answers_a_turned_dish_alike(
    recognizer: TrayRecognizer,
) -> None:
    """The rim strip turns a dish's rotation into a shift along the angles; the committed crop
    classifier wraps its convolutions round in angle and pools over all angles, so a shift by
    its angular stride (8 columns) must give the same probabilities, and the strip must matter
    (a different strip gives different ones)."""
    session = crop_session(recognizer.model_files[1])
    rng = np.random.default_rng(7)
    strips = rng.integers(0, 256, (3, STRIP_ROWS, STRIP_ANGLES, 3), dtype=np.uint8)
    references = np.tile(np.array([120.0, 125.0, 130.0], np.float32), (3, 1))
    turned = np.roll(strips, 8, axis=2)
    plain, rolled = (
        classify_batches(session, strips, references),
        classify_batches(session, turned, references),
    )
    np.testing.assert_allclose(rolled, plain, atol=1e-5)
    assert np.abs(plain[0] - plain[1]).max() > 1e-3


def test_committed_networks_arithmetic(recognizer: TrayRecognizer) -> None:
    """``make model`` leaves the first network in float32 and quantises the crop classifier
    (``models.traycolour.quantise``): the committed pair must be what it writes, and each
    file's metadata says so."""
    assert recognizer.precision == ("float32", "int8")
