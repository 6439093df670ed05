"""Export of the trained networks to ONNX, with the decision thresholds in the first one's
metadata; the crop classifier is quantised to int8 when given calibration strips."""

from __future__ import annotations

import json
import logging
import warnings
from typing import TYPE_CHECKING

import onnx
import torch

from models.traycolour.crops import (
    CROP_CONTEXT,
    REDUCE_ABOVE,
    STRIP_ANGLES,
    STRIP_INNER,
    STRIP_ROWS,
    SUPERSAMPLE,
)
from models.traycolour.decode import Thresholds
from models.traycolour.onnx_files import write_model
from models.traycolour.palette import COLOURS, LABELS
from models.traycolour.preprocess import INPUT_HEIGHT, INPUT_WIDTH
from models.traycolour.quantise import is_quantised, quantise
from models.traycolour.quicker_graph import quicker
from models.traycolour.train_crop_network import ExportedRimNet, RimNet
from models.traycolour.train_network import ExportedTrayNet, TrayNet

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from models.traycolour.quantise import Feed

MODEL_NAME = "traycolour"
CROP_MODEL_NAME = "traycolour_crops"


def _program(
    module: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    names: tuple[list[str], list[str]],
    dynamic_shapes: tuple[dict[int, torch.export.Dim], ...] | None = None,
) -> onnx.ModelProto:
    # The exporter warns about torchvision operators these models do not use.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            example,
            dynamo=True,
            input_names=names[0],
            output_names=names[1],
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    if program is None:  # pragma: no cover - the dynamo exporter always returns a program
        msg = "ONNX export returned nothing"
        raise RuntimeError(msg)
    # Typed here: without the training extra installed, mypy sees torch as Any.
    proto: onnx.ModelProto = program.model_proto
    return proto


def first_network(net: TrayNet) -> onnx.ModelProto:
    """The first network as ONNX (opset 18+), float32 (``build`` says why not int8), in the
    graph that computes the same quicker (``quicker_graph``)."""
    wrapped = ExportedTrayNet(net).eval()
    example = torch.zeros((1, INPUT_HEIGHT, INPUT_WIDTH, 3), dtype=torch.uint8)
    return quicker(
        _program(wrapped, (example,), (["image"], ["heat", "geometry", "classes", "dish_logits"]))
    )


def write_first_network(
    model: onnx.ModelProto, path: Path, thresholds: Thresholds, notes: dict[str, str]
) -> str:
    """Write the first network (``first_network``) to ``path`` and ``path.sha256``; returns
    the hex digest. ``notes`` go into the metadata (with the crop model's file name and
    digest)."""
    meta = {
        "name": MODEL_NAME,
        "torch": torch.__version__,
        "colours": json.dumps(list(COLOURS)),
        "input": json.dumps(
            {"width": INPUT_WIDTH, "height": INPUT_HEIGHT, "layout": "NHWC BGR uint8"}
        ),
        "precision": _precision(model),
        "thresholds": thresholds.to_json(),
        **notes,
    }
    return write_model(model, path, meta)


def _precision(model: onnx.ModelProto) -> str:
    return "int8" if is_quantised(model) else "float32"


def crop_network(net: RimNet, calibration: Sequence[Feed] | None = None) -> onnx.ModelProto:
    """The crop classifier as ONNX (any number of rim strips per call, up to 64): float32, or
    int8 with its activation ranges measured on ``calibration`` (``quantise.strip_feeds``);
    in the graph that computes the same quicker (``quicker_graph``)."""
    wrapped = ExportedRimNet(net).eval()
    crops = torch.zeros((2, STRIP_ROWS, STRIP_ANGLES, 3), dtype=torch.uint8)
    references = torch.full((2, 3), 114.0, dtype=torch.float32)
    batch = torch.export.Dim("crops", min=1, max=64)
    model = _program(
        wrapped,
        (crops, references),
        (["strips", "reference"], ["probabilities"]),
        dynamic_shapes=({0: batch}, {0: batch}),
    )
    return quicker(model if calibration is None else quantise(model, calibration))


def write_crop_network(model: onnx.ModelProto, path: Path, notes: dict[str, str]) -> str:
    """Write the crop classifier (``crop_network``) to ``path`` and ``path.sha256``; returns
    the hex digest."""
    meta = {
        "name": CROP_MODEL_NAME,
        "torch": torch.__version__,
        "labels": json.dumps([*LABELS, "not a dish"]),
        "precision": _precision(model),
        "input": json.dumps(
            {
                "strip": "rows: radius from inner to context times the dish's, columns: angle",
                "rows": STRIP_ROWS,
                "angles": STRIP_ANGLES,
                "inner": STRIP_INNER,
                "context": CROP_CONTEXT,
                "supersample": SUPERSAMPLE,
                "reduce_above": REDUCE_ABOVE,
                "layout": "NHWC BGR uint8",
            }
        ),
        **notes,
    }
    return write_model(model, path, meta)
