"""Int8 quantisation of the tray-colour networks (``models.traycolour.quantise``), on a small
network built here: the quantiser must leave the layers that compute the outputs in float32,
so that a probability near 1 keeps its resolution."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from models.traycolour.quantise import is_quantised, output_convolutions, quantise


def _network() -> onnx.ModelProto:
    """image (1 x 3 x 16 x 16) -> conv 3x3, relu -> conv 3x3, relu -> conv 1x1 (the head)
    -> softmax over channels: probabilities 1 x 5 x 16 x 16."""
    rng = np.random.default_rng(3)
    weights = {
        "w1": rng.normal(0, 0.4, (8, 3, 3, 3)),
        "w2": rng.normal(0, 0.3, (8, 8, 3, 3)),
        "w3": rng.normal(0, 0.5, (5, 8, 1, 1)),
    }
    nodes = [
        helper.make_node("Conv", ["image", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["logits"], name="head"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 5, 16, 16])],
        [numpy_helper.from_array(w.astype(np.float32), name) for name, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, image: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"image": image})[0])


def test_quantise_keeps_the_output_layer_float() -> None:
    model = _network()
    assert output_convolutions(model) == ["head"]
    rng = np.random.default_rng(5)
    feeds = [{"image": rng.random((1, 3, 16, 16), dtype=np.float32)} for _ in range(16)]
    quantised = quantise(model, feeds)
    assert is_quantised(quantised)
    assert not is_quantised(model)

    # The inner convolutions read dequantised weights; the head keeps its float32 ones.
    dequantised = {n.output[0] for n in quantised.graph.node if n.op_type == "DequantizeLinear"}
    convs = {n.name: n for n in quantised.graph.node if n.op_type == "Conv"}
    assert set(convs) == {"conv1", "conv2", "head"}
    assert convs["conv2"].input[1] in dequantised
    assert convs["head"].input[1] not in dequantised
    assert convs["head"].input[1] in {i.name for i in quantised.graph.initializer}
    # Nor are its logits rounded to uint8 on their way to the softmax.
    quantised_tensors = {n.input[0] for n in quantised.graph.node if n.op_type == "QuantizeLinear"}
    assert "logits" not in quantised_tensors
    assert "c2" in quantised_tensors or "r2" in quantised_tensors

    image = rng.random((1, 3, 16, 16), dtype=np.float32)
    exact, approximate = _run(model, image), _run(quantised, image)
    # Float outputs: probabilities that add up to 1 everywhere, with more than uint8's 256
    # steps, and close to the float32 network's.
    np.testing.assert_allclose(approximate.sum(axis=1), 1.0, atol=1e-5)
    assert len(np.unique(approximate)) > 256
    assert np.abs(approximate - exact).max() < 0.05
