"""``python -m models.traycolour.recalibrate`` on a copy of the committed pair."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from typing import TYPE_CHECKING

import onnx
import pytest

from models.traycolour import calibrate, recalibrate
from models.traycolour.onnx_files import metadata, write_model
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer

if TYPE_CHECKING:
    from pathlib import Path

#: Few trays, so that the test stays quick; the choice itself is tested in test_calibrate.
OPTIONS = ["--val-trays", "20", "--workers", "1"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    """A copy of the committed pair whose thresholds are off the search's grid (detect 0.3),
    so that whatever the search chooses differs from them."""
    for source in DEFAULT_MODEL_PATH.parent.glob(DEFAULT_MODEL_PATH.stem + "*.onnx*"):
        shutil.copy(source, tmp_path / source.name)
    first = tmp_path / DEFAULT_MODEL_PATH.name
    model = onnx.load(str(first))
    meta = metadata(model)
    off_grid = replace(TrayRecognizer(first).thresholds, detect=0.3)
    assert off_grid.detect not in calibrate.DETECT
    meta["thresholds"] = off_grid.to_json()
    write_model(model, first, meta)
    return first


def test_rewrites_only_the_thresholds(pair: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crops = pair.with_name(pair.stem + "_crops.onnx")
    crops_before, graph_before = _digest(crops), onnx.load(str(pair)).graph
    meta_before = metadata(onnx.load(str(pair)))
    version_before = TrayRecognizer(pair).model_version

    assert recalibrate.main(["--model", str(pair), *OPTIONS]) == 0

    out = capsys.readouterr().out
    assert "on 20 validation trays" in out
    # Loading checks the new digest file and the pin on the untouched crop classifier.
    after = TrayRecognizer(pair)
    assert after.thresholds.detect in calibrate.DETECT
    assert after.model_version != version_before
    assert f"is now {after.model_version}" in out
    assert _digest(crops) == crops_before
    model = onnx.load(str(pair))
    assert model.graph == graph_before
    meta = metadata(model)
    assert meta["calibration"].startswith("re-chosen by models.traycolour.recalibrate on 20")
    changed = {k for k in meta if meta[k] != meta_before.get(k)}
    assert changed == {"thresholds", "calibration"}


def test_dry_run_writes_nothing(pair: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(pair)
    assert recalibrate.main(["--model", str(pair), *OPTIONS, "--dry-run"]) == 0
    assert "dry run: nothing written" in capsys.readouterr().out
    assert _digest(pair) == before


@pytest.mark.parametrize(
    ("option", "value"),
    [("--val-trays", "0"), ("--val-trays", "100001"), ("--max-wrong", "1.5")],
)
def test_bad_options_are_refused(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        recalibrate.main([option, value])
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_a_tampered_model_is_refused(pair: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pair.write_bytes(pair.read_bytes() + b"\0")
    assert recalibrate.main(["--model", str(pair), *OPTIONS]) == 2
    assert f"cannot load the model {pair}" in capsys.readouterr().err
