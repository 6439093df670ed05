"""Int8 quantisation of the crop classifier (needs onnx: in the train and dev extras).

Static quantisation in the QDQ format of its convolutions, with int8 weights per output
channel and uint8 activations whose ranges are measured on training strips. What computes
the outputs stays float32: the fully connected layers and the softmax. Rounding an output to
uint8 would leave it 256 steps: a colour's probability of 0.999 could not be told from 0.996,
and the confidence threshold works right there (the first int8 build did that, and its
probabilities no longer summed to 1). So ``decode`` does not change.

The first network is no longer quantised (``build`` says why): in the uint8-weight form below
onnxruntime ran it no faster than in float32 on the development machine. ``quantise`` works
on either network; the build gives it the crop classifier only.

The calibration inputs are training data only: training rim strips (``CropSamples``); never
the validation trays the thresholds are chosen on, nor the held-out ones. The thresholds are
then chosen on the exported pair, as the checkout runs it.

The weights are stored as **uint8** with a zero point of 128 (``unsigned_weights``), not as the
quantiser's int8: the same values, but on an x86 CPU without VNNI (AVX2 only, such as AMD
EPYC Zen 3) onnxruntime multiplies uint8 activations by int8 weights with an instruction
(``vpmaddubsw``) that saturates sums of two products at 16 bits, and the first network's
outputs came out wrong there (heat-map peaks off by up to 0.2, colour logits by up to 6,
against the same model computed without the int8 kernels). uint8 by uint8 takes another path
that keeps every sum exact, so the pair gives the same answers on every CPU.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from models.traycolour.crop_samples import CropSamples

#: How many training strips set the crop classifier's, in batches of ``STRIP_BATCH``.
CALIBRATION_STRIPS: Final = 2048
STRIP_BATCH: Final = 32

#: One input of a network: its input names to arrays.
Feed = dict[str, np.ndarray]


class _Feeds(CalibrationDataReader):  # type: ignore[misc,unused-ignore]
    """Hands the quantiser its calibration inputs one at a time."""

    def __init__(self, feeds: Sequence[Feed]) -> None:
        self._feeds: Iterator[Feed] = iter(feeds)

    def get_next(self) -> Feed | None:
        return next(self._feeds, None)


def _spread(n: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over ``n`` rows: the training data are in seed order,
    and every stretch of seeds is alike."""
    if n == 0:
        msg = "no training inputs to calibrate the quantisation on"
        raise ValueError(msg)
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(np.int64))


def strip_feeds(samples: CropSamples, count: int = CALIBRATION_STRIPS) -> list[Feed]:
    """The crop classifier's calibration inputs: ``count`` training strips with their tray
    references, ``STRIP_BATCH`` per call."""
    idx = _spread(len(samples.labels), count)
    return [
        {
            "strips": np.ascontiguousarray(samples.crops[part]),
            "reference": np.ascontiguousarray(samples.references[part], dtype=np.float32),
        }
        for part in np.array_split(idx, max(1, -(-len(idx) // STRIP_BATCH)))
    ]


#: Layers that stay float32 (only convolutions are quantised) and compute from their inputs
#: afresh: a quantised convolution before one of them does not make an output coarse.
_FLOAT_LAYERS: Final = frozenset({"Gemm", "MatMul"})


def output_convolutions(model: onnx.ModelProto) -> list[str]:
    """The names of the convolutions that compute an output: those from which a graph output
    is reached without passing another convolution or a float layer (the first network's
    head; none in the crop classifier, whose outputs come from its float fully connected
    layers)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    found: list[str] = []
    seen: set[str] = set()
    stack = [out.name for out in model.graph.output]
    while stack:
        tensor = stack.pop()
        node = producer.get(tensor)
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found.append(node.name)
        elif node.op_type not in _FLOAT_LAYERS:
            stack.extend(node.input)
    return found


def quantise(model: onnx.ModelProto, feeds: Sequence[Feed]) -> onnx.ModelProto:
    """``model`` (an exported network, float32) with its convolutions in 8 bits: weights
    quantised symmetrically per output channel (int8 values, stored as uint8 with a zero point
    of 128: ``unsigned_weights``) and uint8 activations, ranges measured on ``feeds``.

    Only convolutions, where the time goes, and not the ones nearest the outputs: what comes
    out (logits, probabilities, box sizes) is computed in float32. An uint8 output would have
    256 steps over its whole range: a probability near 1 could no longer be told from 0.996,
    and the confidence threshold works right there."""
    with tempfile.TemporaryDirectory() as tmp:
        source, prepared, target = (Path(tmp) / n for n in ("f32.onnx", "pre.onnx", "q8.onnx"))
        onnx.save(model, source)
        # Folds constants and infers shapes, so that the quantiser sees every convolution.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        keep_float = output_convolutions(onnx.load(prepared))
        quantize_static(
            str(prepared),
            str(target),
            _Feeds(feeds),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=keep_float,
        )
        return unsigned_weights(onnx.load(target))


#: What an int8 value gains to become the uint8 with the same meaning under a zero point of 128.
_SHIFT: Final = 128


def unsigned_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with every int8 tensor that a dequantisation reads from the initializers (the
    quantised weights) turned into uint8, and its zero point with it: ``(w + 128) - (z + 128)``
    is ``w - z``, so the model computes exactly the same values; only the kernel onnxruntime
    picks changes, to one that cannot saturate (module docstring). Leaves ``model`` as it is
    when it holds no int8 weights (float32, or already converted)."""
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    shifted: set[str] = set()  # a tensor read by several dequantisations is shifted once

    def shift(tensor: onnx.TensorProto) -> None:
        if tensor.name in shifted:
            return
        values = numpy_helper.to_array(tensor).astype(np.int16) + _SHIFT
        tensor.CopyFrom(numpy_helper.from_array(values.astype(np.uint8), tensor.name))
        shifted.add(tensor.name)

    for node in model.graph.node:
        weights = initializers.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if weights is None or not (
            weights.data_type == onnx.TensorProto.INT8 or weights.name in shifted
        ):
            continue
        shift(weights)
        zero_point = initializers.get(node.input[2]) if len(node.input) > 2 else None
        if zero_point is not None:
            shift(zero_point)
            continue
        # No zero point means 0 of the int8 type: 128 of the uint8 one, one per scale.
        scale = numpy_helper.to_array(initializers[node.input[1]])
        name = f"{weights.name}_zero_point_u8"
        if name not in initializers:
            zero = numpy_helper.from_array(np.full(scale.shape, _SHIFT, np.uint8), name)
            model.graph.initializer.append(zero)
            initializers[name] = zero
        del node.input[2:]
        node.input.append(name)
    return model


def is_quantised(model: onnx.ModelProto) -> bool:
    """Whether ``model`` holds quantised operators (the QDQ format's dequantisations)."""
    return any(node.op_type == "DequantizeLinear" for node in model.graph.node)
