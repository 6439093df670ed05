"""The run-time recogniser on generated trays, odd frame sizes and bad input."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from models.traycolour.metrics import match_items
from models.traycolour.palette import LABELS
from models.traycolour.runtime import (
    InvalidImageError,
    TrayRecognizer,
    UnreadableImageError,
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
