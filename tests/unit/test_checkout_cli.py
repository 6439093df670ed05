"""``tianshan checkout recognize``: images in, one result per image out, errors named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.traycolour.runtime import TrayRecognizer
from models.traycolour.synth import render_tray
from tests.checkout_support import PRICES, tianshan

YUAN = {
    "red": 12,
    "orange": 10,
    "yellow": 8,
    "green": 6,
    "blue": 5,
    "purple": 4.5,
    "white": 3.5,
    "black": 15,
}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("images")
    small, _ = render_tray(2_001_100, size=(320, 240))
    large, _ = render_tray(2_001_101, size=(1920, 1080))
    paths = {"small": folder / "small.png", "large": folder / "large.jpg"}
    cv2.imwrite(str(paths["small"]), small)
    cv2.imwrite(str(paths["large"]), large)
    paths["corrupt"] = folder / "corrupt.jpg"
    paths["corrupt"].write_bytes(paths["large"].read_bytes()[:200])
    paths["missing"] = folder / "missing.jpg"
    paths["empty"] = folder / "empty.png"
    cv2.imwrite(str(paths["empty"]), np.full((480, 640, 3), 90, np.uint8))
    return paths


def test_json_per_image_with_a_bill(images: dict[str, Path]) -> None:
    done = tianshan(
        "checkout", "recognize", images["small"], images["large"], "--prices", PRICES, "--json"
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["image"] for r in results] == [str(images["small"]), str(images["large"])]
    recognizer = TrayRecognizer()
    for result, size in zip(results, [(320, 240), (1920, 1080)], strict=True):
        frame = cv2.imread(result["image"])
        assert frame is not None
        expected = recognizer.recognize(frame)
        assert [i["colour"] for i in result["items"]] == [i.colour for i in expected.items]
        assert [i["guess"] for i in result["items"]] == [i.guess for i in expected.items]
        assert result["items"], "these trays hold dishes"
        for item in result["items"]:
            x, y = item["centre"]
            assert 0 <= x < size[0]
            assert 0 <= y < size[1]
            assert item["radius"] > 0
            assert 0 <= item["confidence"] <= 1
        assert isinstance(result["needs_staff"], bool)
        priced = [YUAN[i["colour"]] for i in result["items"] if i["colour"] != "unknown"]
        assert result["total"] == pytest.approx(sum(priced))
        assert result["price_table_version"] == "2026-11-autumn"


def test_plain_text_without_prices(images: dict[str, Path]) -> None:
    done = tianshan("checkout", "recognize", images["small"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{images['small']}: ")
    assert "total" not in done.stdout
    assert " ms]" in done.stdout


def test_plain_text_names_the_guess_for_an_unsure_dish() -> None:
    from edge.checkout.bill import dish_name

    assert dish_name("blue", "blue") == "blue"
    assert dish_name("unknown", "blue") == "unknown(blue?)"
    assert dish_name("unknown", "unknown") == "unknown"


def test_bad_images_are_named_and_the_good_ones_still_done(images: dict[str, Path]) -> None:
    done = tianshan(
        "checkout",
        "recognize",
        images["corrupt"],
        images["missing"],
        images["small"],
        images["empty"],
        "--json",
        "--prices",
        PRICES,
    )
    assert done.returncode == 1, "a failed image must show in the exit code"
    corrupt, missing, small, empty = (json.loads(line) for line in done.stdout.splitlines())
    assert "error" in corrupt
    assert "decode" in corrupt["error"] or "image" in corrupt["error"]
    assert missing["error"] == "no such file or directory"
    assert "items" in small
    assert empty["items"] == []
    assert empty["needs_staff"] is True
    assert empty["total"] == 0


def test_a_broken_model_file_stops_before_any_image(
    images: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"not a model")
    model.with_name("broken.onnx.sha256").write_text(hashlib.sha256(b"not a model").hexdigest())
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    (labelled / "a.json").write_text('{"staff_said": ["red"]}')
    for action in (("recognize", images["small"]), ("field-check", labelled)):
        done = tianshan("checkout", *action, "--model", model)
        assert done.returncode == 2, done.stderr
        assert "not an ONNX model onnxruntime can load" in done.stderr
        assert "Traceback" not in done.stderr
        assert done.stdout == ""


def test_a_bad_price_table_stops_before_any_image(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "prices.toml"
    bad.write_text("[colours]\nred = 12\npink = 3\n")
    done = tianshan("checkout", "recognize", images["small"], "--prices", bad)
    assert done.returncode == 2
    assert "'pink' is not a plate colour" in done.stderr
    assert done.stdout == ""
