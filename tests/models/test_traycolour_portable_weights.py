"""``python -m models.traycolour.portable_weights`` on a copy of the committed pair turned back
into the quantiser's int8 form."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from models.traycolour import portable_weights
from models.traycolour.onnx_files import metadata, write_model
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer, read_verified

if TYPE_CHECKING:
    from pathlib import Path

CROPS = DEFAULT_MODEL_PATH.with_name(DEFAULT_MODEL_PATH.stem + "_crops.onnx")


def _weight_types(model: onnx.ModelProto) -> set[int]:
    """Element types of the tensors the model dequantises from its initializers (weights;
    the biases, int32, are not 8-bit and stay as they are)."""
    initializers = {t.name: t for t in model.graph.initializer}
    return {
        initializers[n.input[0]].data_type
        for n in model.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in initializers
    } - {TensorProto.INT32}


def _signed(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with its uint8 weights and their zero points back in int8."""
    initializers = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in initializers:
            continue
        for name in (node.input[0], node.input[2]):
            tensor = initializers[name]
            if tensor.data_type == TensorProto.UINT8:
                values = numpy_helper.to_array(tensor).astype(np.int16) - 128
                tensor.CopyFrom(numpy_helper.from_array(values.astype(np.int8), name))
    return model


@pytest.fixture
def signed_pair(tmp_path: Path) -> Path:
    """A copy of the committed pair with int8 weights, as pairs were built before."""
    crops = onnx.load(str(CROPS))
    crop_digest = write_model(_signed(crops), tmp_path / CROPS.name, metadata(crops))
    first = onnx.load(str(DEFAULT_MODEL_PATH))
    meta = metadata(first)
    meta["crop_model"] = json.dumps({"file": CROPS.name, "sha256": crop_digest})
    write_model(_signed(first), tmp_path / DEFAULT_MODEL_PATH.name, meta)
    return tmp_path / DEFAULT_MODEL_PATH.name


def test_committed_pair_has_no_int8_weights() -> None:
    # The crop classifier is quantised, with its weights as uint8; the first network is
    # float32 (models/traycolour/build.py says why) and dequantises nothing.
    assert _weight_types(onnx.load(str(CROPS))) == {TensorProto.UINT8}
    assert _weight_types(onnx.load(str(DEFAULT_MODEL_PATH))) == set()


def test_converts_a_signed_pair_back_to_the_committed_files(
    signed_pair: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed_version = TrayRecognizer(signed_pair).model_version
    assert _weight_types(onnx.load(str(signed_pair.with_name(CROPS.name)))) == {TensorProto.INT8}

    dry = portable_weights.main(["--model", str(signed_pair), "--dry-run"])
    assert dry == 0
    assert "dry run" in capsys.readouterr().out
    assert TrayRecognizer(signed_pair).model_version == signed_version

    assert portable_weights.main(["--model", str(signed_pair)]) == 0
    out = capsys.readouterr().out
    assert f"converted: model {signed_version} is now" in out
    # The same values in the same places: the committed files, byte for byte, and so the
    # committed model version; the pin follows the crop file's new digest.
    for path in (signed_pair, signed_pair.with_name(CROPS.name)):
        committed = DEFAULT_MODEL_PATH.with_name(path.name)
        assert path.read_bytes() == committed.read_bytes(), path.name
    pin = json.loads(metadata(onnx.load(str(signed_pair)))["crop_model"])
    read_verified(signed_pair.with_name(pin["file"]), pin["sha256"])
    assert TrayRecognizer(signed_pair).model_version == TrayRecognizer().model_version

    assert portable_weights.main(["--model", str(signed_pair)]) == 0
    assert "nothing to convert" in capsys.readouterr().out


def test_refuses_a_pair_that_fails_its_checksum(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (DEFAULT_MODEL_PATH, CROPS):
        shutil.copy(path, tmp_path / path.name)
        shutil.copy(path.with_name(path.name + ".sha256"), tmp_path / (path.name + ".sha256"))
    (tmp_path / CROPS.name).write_bytes(b"not a model")
    assert portable_weights.main(["--model", str(tmp_path / DEFAULT_MODEL_PATH.name)]) == 2
    assert "cannot convert the model" in capsys.readouterr().err
