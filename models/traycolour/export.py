"""Export of the trained network to ONNX, with the decision thresholds in its metadata."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from typing import TYPE_CHECKING

import onnx
import torch

from models.traycolour.decode import Thresholds
from models.traycolour.palette import COLOURS
from models.traycolour.preprocess import INPUT_HEIGHT, INPUT_WIDTH
from models.traycolour.train_network import ExportedTrayNet, TrayNet

if TYPE_CHECKING:
    from pathlib import Path

MODEL_NAME = "traycolour"


def export_onnx(net: TrayNet, path: Path, thresholds: Thresholds, notes: dict[str, str]) -> str:
    """Write ``path`` (ONNX, opset 18+) and ``path.sha256``; returns the hex digest."""
    wrapped = ExportedTrayNet(net).eval()
    example = torch.zeros((1, INPUT_HEIGHT, INPUT_WIDTH, 3), dtype=torch.uint8)
    # The exporter warns about torchvision operators this model does not use.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapped,
            (example,),
            dynamo=True,
            input_names=["image"],
            output_names=["heat", "geometry", "classes", "dish_logits"],
            verbose=False,
        )
    if program is None:  # pragma: no cover - the dynamo exporter always returns a program
        msg = "ONNX export returned nothing"
        raise RuntimeError(msg)
    model = program.model_proto
    meta = {
        "name": MODEL_NAME,
        "torch": torch.__version__,
        "colours": json.dumps(list(COLOURS)),
        "input": json.dumps(
            {"width": INPUT_WIDTH, "height": INPUT_HEIGHT, "layout": "NHWC BGR uint8"}
        ),
        "thresholds": thresholds.to_json(),
        **notes,
    }
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest
