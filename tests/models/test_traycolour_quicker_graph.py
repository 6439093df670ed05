"""The pair's quicker graphs (``models.traycolour.quicker_graph``): the same outputs from
rewritten graphs, on a small decoder stage and a small ring convolution built here, and on the
committed pair."""

from __future__ import annotations

import shutil
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.traycolour.onnx_files import metadata, write_model
from models.traycolour.quicker_graph import largest_difference, main, quicker
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer

if TYPE_CHECKING:
    from pathlib import Path


def _decoder_stage(head_kernel: int = 1) -> onnx.ModelProto:
    """deep (1 x 8 x 4 x 6) -> conv 3x3 -> nearest upsampling x2, joined with skip
    (1 x 5 x 8 x 12) and skip2 (1 x 3 x 8 x 12) -> conv ``head_kernel`` with bias, relu ->
    softmax over the channels: a U-Net's last stage, as the export writes it."""
    rng = np.random.default_rng(11)
    pad = head_kernel // 2
    constants = {
        "w_deep": rng.normal(0, 0.4, (6, 8, 3, 3)),
        "w_head": rng.normal(0, 0.5, (7, 14, head_kernel, head_kernel)),
        "b_head": rng.normal(0, 0.5, (7,)),
        "scales": np.array([1.0, 1.0, 2.0, 2.0]),
    }
    nodes = [
        helper.make_node("Conv", ["deep", "w_deep"], ["d"], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["d", "", "scales"], ["up"], mode="nearest"),
        helper.make_node("Concat", ["up", "skip", "skip2"], ["joined"], axis=1),
        helper.make_node(
            "Conv", ["joined", "w_head", "b_head"], ["h"], pads=[pad] * 4, name="head"
        ),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Softmax", ["r"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "stage",
        [
            helper.make_tensor_value_info("deep", TensorProto.FLOAT, [1, 8, 4, 6]),
            helper.make_tensor_value_info("skip", TensorProto.FLOAT, [1, 5, 8, 12]),
            helper.make_tensor_value_info("skip2", TensorProto.FLOAT, [1, 3, 8, 12]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 7, 8, 12])],
        [numpy_helper.from_array(v.astype(np.float32), name) for name, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, feeds)[0])


def _feeds(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "deep": rng.normal(0, 1, (1, 8, 4, 6)).astype(np.float32),
        "skip": rng.normal(0, 1, (1, 5, 8, 12)).astype(np.float32),
        "skip2": rng.normal(0, 1, (1, 3, 8, 12)).astype(np.float32),
    }


def _ops(model: onnx.ModelProto) -> Counter[str]:
    return Counter(node.op_type for node in model.graph.node)


def test_the_rewritten_stage_computes_the_same() -> None:
    plain = _decoder_stage()
    rewritten = quicker(_decoder_stage())
    ops = _ops(rewritten)
    # No softmax across the channels and no concatenation left: three 1x1 convolutions (the
    # upsampled part's before its upsampling) added up, and the softmax written out.
    assert ops["Softmax"] == 0
    assert ops["Concat"] == 0
    assert ops["Conv"] == 4
    assert ops["Add"] == 2
    assert ops["Exp"] == 1
    resize = next(n for n in rewritten.graph.node if n.op_type == "Resize")
    producer = next(n for n in rewritten.graph.node if resize.input[0] in n.output)
    assert producer.op_type == "Conv"  # convolved on the small map, then upsampled
    assert "w_head" not in {t.name for t in rewritten.graph.initializer}
    for seed in range(5):
        feeds = _feeds(seed)
        before, after = _run(plain, feeds), _run(rewritten, feeds)
        np.testing.assert_allclose(after, before, rtol=0, atol=1e-5)
        np.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-5)


def test_a_concatenation_before_a_wider_kernel_is_left_alone() -> None:
    rewritten = quicker(_decoder_stage(head_kernel=3))
    ops = _ops(rewritten)
    assert ops["Concat"] == 1
    assert ops["Resize"] == 1
    assert ops["Softmax"] == 0  # that rewrite does not depend on the convolution
    np.testing.assert_allclose(
        _run(rewritten, _feeds(0)),
        _run(_decoder_stage(head_kernel=3), _feeds(0)),
        rtol=0,
        atol=1e-5,
    )


def _ring_layer() -> onnx.ModelProto:
    """x (1 x 2 x 4 x 6, float) wrapped around in its last axis (its last and first columns
    joined either side) and padded by repeating the edge rows, quantised, then a 3x3
    convolution of the dequantised values: one of the crop classifier's layers in QDQ form."""
    rng = np.random.default_rng(5)
    constants: dict[str, np.ndarray] = {
        "last": np.array([5], np.int64),
        "end": np.array([6], np.int64),
        "first": np.array([0], np.int64),
        "one": np.array([1], np.int64),
        "axis": np.array([3], np.int64),
        "pads": np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64),
        "scale": np.array(0.05, np.float32),
        "zero": np.array(0, np.uint8),
        "w": rng.normal(0, 0.5, (3, 2, 3, 3)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Slice", ["x", "last", "end", "axis"], ["tail"]),
        helper.make_node("Slice", ["x", "first", "one", "axis"], ["head"]),
        helper.make_node("Concat", ["tail", "x", "head"], ["ring"], axis=3),
        helper.make_node("Pad", ["ring", "pads"], ["padded"], mode="edge"),
        helper.make_node("QuantizeLinear", ["padded", "scale", "zero"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"]),
        helper.make_node("Conv", ["dq", "w"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "ring",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 6])],
        [numpy_helper.from_array(v, name) for name, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def test_the_ring_padding_moves_as_uint8_and_computes_the_same_to_the_bit() -> None:
    rewritten = quicker(_ring_layer())
    order = [n.op_type for n in rewritten.graph.node]
    assert order.index("QuantizeLinear") < order.index("Concat") < order.index("Pad")
    quantised = next(n for n in rewritten.graph.node if n.op_type == "QuantizeLinear")
    assert quantised.input[0] == "x"
    rng = np.random.default_rng(9)
    for _ in range(5):
        feeds = {"x": rng.normal(2.0, 3.0, (1, 2, 4, 6)).astype(np.float32)}
        np.testing.assert_array_equal(_run(rewritten, feeds), _run(_ring_layer(), feeds))


def test_a_constant_padding_is_left_alone() -> None:
    model = _ring_layer()
    pad = next(n for n in model.graph.node if n.op_type == "Pad")
    del pad.attribute[:]
    pad.attribute.append(helper.make_attribute("mode", "constant"))
    order = [n.op_type for n in quicker(model).graph.node]
    assert order.index("Pad") < order.index("QuantizeLinear")


def test_the_committed_pair_is_already_quicker() -> None:
    for path in (DEFAULT_MODEL_PATH, DEFAULT_MODEL_PATH.with_name("traycolour_crops.onnx")):
        model = onnx.load(str(path))
        ops = _ops(model)
        assert ops["Concat"] == 0 if path == DEFAULT_MODEL_PATH else ops["Concat"] > 0
        assert ops["Softmax"] == (0 if path == DEFAULT_MODEL_PATH else 1)  # the last axis
        before = model.SerializeToString()
        assert quicker(model).SerializeToString() == before, path.name


def test_the_command_rewrites_a_plain_first_network_and_keeps_its_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (DEFAULT_MODEL_PATH, DEFAULT_MODEL_PATH.with_name("traycolour_crops.onnx")):
        for name in (path.name, path.name + ".sha256"):
            shutil.copy(path.with_name(name), tmp_path / name)
    first = tmp_path / DEFAULT_MODEL_PATH.name
    model = onnx.load(str(first))
    # Undo the written-out softmax: the file as the export wrote it before the rewrite.
    nodes = list(model.graph.node)
    logits = next(n for n in nodes if n.op_type == "ReduceMax").input[0]
    written_out = {n.output[0] for n in nodes if n.output[0].startswith("softmax_by_hand")}
    softmax = helper.make_node("Softmax", [logits], ["classes"], axis=1)
    kept = [
        softmax if n.op_type == "ReduceMax" else n
        for n in nodes
        if n.op_type == "ReduceMax" or n.output[0] not in written_out | {"classes"}
    ]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    axes = [t for t in model.graph.initializer if not t.name.startswith("softmax_by_hand")]
    del model.graph.initializer[:]
    model.graph.initializer.extend(axes)
    write_model(model, first, metadata(model))
    plain, plain_version = first.read_bytes(), TrayRecognizer(first).model_version
    assert main(["--model", str(first), "--trays", "3"]) == 0
    out = capsys.readouterr().out
    assert "traycolour_crops.onnx: already in the quicker form" in out
    assert f"model {plain_version} is now" in out
    assert _ops(onnx.load(str(first)))["Softmax"] == 0
    frames = [{"image": np.full((1, 192, 256, 3), v, np.uint8)} for v in (40, 114, 220)]
    assert largest_difference(plain, first.read_bytes(), frames) < 1e-4
    # The same graph as the committed file's, up to the order of its parts; the pair loads
    # (its crop classifier's pin holds).
    assert largest_difference(DEFAULT_MODEL_PATH.read_bytes(), first.read_bytes(), frames) == 0
    assert TrayRecognizer(first).model_version.startswith("traycolour-")
    assert main(["--model", str(first), "--trays", "1"]) == 0
    assert "already in the quicker form, nothing to write" in capsys.readouterr().out


def test_the_command_refuses_a_file_that_is_no_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "traycolour.onnx"
    junk.write_bytes(b"\x08\x01\x12not a model at all")
    assert main(["--model", str(junk)]) == 2
    assert "cannot load the model" in capsys.readouterr().err
