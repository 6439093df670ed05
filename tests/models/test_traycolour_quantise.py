"""Int8 quantisation of the tray-colour networks (``models.traycolour.quantise``), on a small
network built here: the quantiser must leave the layers that compute the outputs in float32,
so that a probability near 1 keeps its resolution."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from models.traycolour.quantise import (
    is_quantised,
    output_convolutions,
    quantise,
    unsigned_weights,
)
from tests.saturating_network import all_positive_network, saturating_feeds


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


def test_quantised_sums_do_not_saturate_on_this_cpu() -> None:
    # On an x86 CPU without VNNI, onnxruntime's uint8 x int8 kernel saturates each pair of
    # products at 16 bits: this network's sums came out at about half (8.09 for 16) there.
    model = all_positive_network()
    quantised = quantise(model, saturating_feeds())
    weights = {n.input[0] for n in quantised.graph.node if n.op_type == "DequantizeLinear"}
    stored = {t.name: t.data_type for t in quantised.graph.initializer if t.name in weights}
    assert stored
    assert set(stored.values()) == {TensorProto.UINT8}

    image = np.ones((1, 16, 4, 4), np.float32)
    exact, fast = _run(model, image), _run(quantised, image)
    np.testing.assert_allclose(fast, exact, rtol=0.02)


def test_unsigned_weights_compute_the_same_values() -> None:
    model = _network()
    rng = np.random.default_rng(9)
    feeds = [{"image": rng.random((1, 3, 16, 16), dtype=np.float32)} for _ in range(8)]
    unsigned = quantise(model, feeds)
    # Back to the quantiser's own int8 form, zero points included, then forward again.
    signed = onnx.ModelProto()
    signed.CopyFrom(unsigned)
    initializers = {t.name for t in signed.graph.initializer}
    weights = {
        name
        for n in signed.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in initializers
        for name in (n.input[0], n.input[2])
    }
    for tensor in signed.graph.initializer:
        if tensor.name in weights:
            assert tensor.data_type == TensorProto.UINT8
            values = numpy_helper.to_array(tensor).astype(np.int16) - 128
            tensor.CopyFrom(numpy_helper.from_array(values.astype(np.int8), tensor.name))
    int8 = [t for t in signed.graph.initializer if t.data_type == TensorProto.INT8]
    assert int8, "the test did not rebuild any int8 weight"
    again = unsigned_weights(signed)
    assert not [t for t in again.graph.initializer if t.data_type == TensorProto.INT8]
    assert unsigned_weights(again).SerializeToString() == again.SerializeToString()

    # Computed without the fused int8 kernels, both forms give the same numbers, bit for bit.
    options = ort.SessionOptions()
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    image = rng.random((1, 3, 16, 16), dtype=np.float32)
    results = [
        ort.InferenceSession(
            m.SerializeToString(), options, providers=["CPUExecutionProvider"]
        ).run(None, {"image": image})[0]
        for m in (unsigned, again)
    ]
    np.testing.assert_array_equal(results[0], results[1])


def test_unsigned_weights_without_or_with_shared_zero_points() -> None:
    # Two dequantisations: one reads its weights with no zero point (0 of int8), and two read
    # the same weights and zero point; each tensor must be shifted once, and each output kept.
    w = numpy_helper.from_array(np.array([-128, -1, 0, 5, 127], np.int8), "w")
    scale = numpy_helper.from_array(np.array(0.5, np.float32), "scale")
    zero = numpy_helper.from_array(np.array(3, np.int8), "zero")
    nodes = [
        helper.make_node("DequantizeLinear", ["w", "scale"], ["plain"]),
        helper.make_node("DequantizeLinear", ["w", "scale", "zero"], ["first"]),
        helper.make_node("DequantizeLinear", ["w", "scale", "zero"], ["second"]),
    ]
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [5])
        for name in ("plain", "first", "second")
    ]
    graph = helper.make_graph(nodes, "dq", [], outputs, [w, scale, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8

    def values(m: onnx.ModelProto) -> list[np.ndarray]:
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return [np.asarray(v) for v in session.run(None, {})]

    before = values(model)
    converted = unsigned_weights(model)
    assert not [t for t in converted.graph.initializer if t.data_type == TensorProto.INT8]
    for old, new in zip(before, values(converted), strict=True):
        np.testing.assert_array_equal(new, old)
    np.testing.assert_array_equal(before[0], [-64.0, -0.5, 0.0, 2.5, 63.5])
