"""A network whose 8-bit form overflows onnxruntime's uint8 x int8 kernel on x86 CPUs without
VNNI, for the quantisation tests and those of the emulated CPUs (tests/models)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CHANNELS = 16


def all_positive_network(channels: int = CHANNELS) -> onnx.ModelProto:
    """image (1 x C x 4 x 4) -> conv 1x1 with every weight 1 -> relu -> conv 1x1 (the head, kept
    float): once quantised, each weight is int8's largest value and an input at the top of
    its measured range is uint8's, so every pair of products is 2 x 255 x 127, beyond what
    16 bits hold. On an input of ones the output is C everywhere."""
    nodes = [
        helper.make_node("Conv", ["image", "w1"], ["c1"], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["out"], name="head"),
    ]
    weights = {
        "w1": np.ones((4, channels, 1, 1), np.float32),
        "w2": np.eye(4, dtype=np.float32).reshape(4, 4, 1, 1),
    }
    graph = helper.make_graph(
        nodes,
        "positive",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, channels, 4, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 4, 4])],
        [numpy_helper.from_array(w, name) for name, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def saturating_feeds(channels: int = CHANNELS) -> list[dict[str, np.ndarray]]:
    """Calibration inputs for ``all_positive_network``: random ones and, so that the measured
    range tops out at 1.0, one of all ones."""
    rng = np.random.default_rng(7)
    feeds = [{"image": rng.random((1, channels, 4, 4), dtype=np.float32)} for _ in range(8)]
    feeds.append({"image": np.ones((1, channels, 4, 4), np.float32)})
    return feeds
