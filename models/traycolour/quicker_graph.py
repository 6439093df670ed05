"""A pair's graphs rewritten into ones that compute the same and run quicker.

    python -m models.traycolour.quicker_graph [--model traycolour.onnx] [--dry-run]

Needs ``onnx`` (the dev extra), not torch. The export applies ``quicker`` to both networks it
writes; this command applies it to an existing pair in place, after checking on rendered trays
that the outputs have not changed, and pins the rewritten crop classifier in the first file.

Where onnxruntime's time went outside the convolutions (its profiler, one thread, 640x480
trays on the development machine's AMD EPYC):

* **The first network's Softmax over the channels** of the per-cell classes: 0.31 ms of
  4.75 ms. onnxruntime's Softmax transposes a tensor whose axis is not the last, works on rows
  of 11 values and transposes back. Written out (``ReduceMax``, ``Sub``, ``Exp``,
  ``ReduceSum``, ``Div``) it is a handful of passes over 34,000 values (``softmax_by_hand``).
* **A concatenation before a 1x1 convolution** whose channel offsets do not fall on
  onnxruntime's blocks of 16 channels (the first network's last decoder stage joins 48, 24
  and 16): the inputs go out of the blocked layout, are copied together and go back in
  (0.2 ms with the copy). A 1x1 convolution of a concatenation is the sum of 1x1 convolutions
  of its parts (the weights split by input channel), which onnxruntime adds inside the
  convolution; and a part that is a nearest-neighbour upsampling is convolved before it is
  upsampled, on four times fewer cells (``split_concatenations``).
* **The crop classifier's wrap-around padding** before each of its six convolutions (two
  slices, a concatenation and an edge padding) was done in float32 and then quantised
  (``quantise_before_padding``).

The first network went from 4.60 to 4.15 ms a frame (medians of 400 runs each, alternating),
the crop classifier from 1.20 to 1.10 ms for a tray's candidates. The first network's outputs
differ from the plain graph's by float rounding alone (at most 4e-6 on the committed pair's
on rendered trays), the crop classifier's not at all.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Final

import numpy as np
import onnx
from onnx import helper, numpy_helper

from models.traycolour.onnx_files import (
    add_pair_option,
    crop_model_note,
    metadata,
    rewritten,
    write_model,
)
from models.traycolour.runtime import TrayRecognizer

if TYPE_CHECKING:
    from collections.abc import Sequence

#: ``ReduceMax`` and ``ReduceSum`` with their axes as an input, as written here, need opset 18.
MIN_OPSET: Final = 18
#: Largest difference allowed between the outputs before and after, on rendered trays.
TOLERANCE: Final = 1e-4


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _ranks_and_channels(model: onnx.ModelProto) -> dict[str, tuple[int, int]]:
    """Each tensor whose shape is known: its rank and the size of its axis 1 (0: unknown)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    found: dict[str, tuple[int, int]] = {}
    graph = inferred.graph
    for info in [*graph.value_info, *graph.input, *graph.output]:
        tensor = info.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = tensor.shape.dim
        found[info.name] = (len(dims), dims[1].dim_value if len(dims) > 1 else 0)
    return found


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    for output in graph.output:
        users.setdefault(output.name, []).append(onnx.NodeProto())  # a graph output
    return users


def _attribute(node: onnx.NodeProto, name: str, default: object) -> object:
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _replace(graph: onnx.GraphProto, old: list[onnx.NodeProto], new: list[onnx.NodeProto]) -> None:
    """Remove ``old`` and put ``new`` where the last of ``old`` stood (its inputs are all
    computed by then: the graph is in topological order). Nodes are told apart by their
    first output, which names one node only: the graph's messages are copied on each call."""
    gone = {node.output[0] for node in old}
    nodes = list(graph.node)
    last = max(i for i, node in enumerate(nodes) if node.output[0] in gone)
    kept = [node for node in nodes[:last] if node.output[0] not in gone]
    kept += new + [node for node in nodes[last + 1 :] if node.output[0] not in gone]
    del graph.node[:]
    graph.node.extend(kept)


def _fresh(graph: onnx.GraphProto, stem: str) -> str:
    """A prefix for new tensor names that no tensor of ``graph`` starts with."""
    names = {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
    number = 0
    while any(name.startswith(f"{stem}_{number}_") for name in names):
        number += 1
    return f"{stem}_{number}"


def softmax_by_hand(model: onnx.ModelProto) -> int:
    """Write out every Softmax over an axis other than the last; returns how many."""
    if _opset(model) < MIN_OPSET:
        return 0
    shapes = _ranks_and_channels(model)
    graph = model.graph
    done = 0
    for node in [n for n in graph.node if n.op_type == "Softmax"]:
        rank = shapes.get(node.input[0], (0, 0))[0]
        axis = int(_attribute(node, "axis", -1))  # type: ignore[call-overload]
        if rank == 0 or axis in (-1, rank - 1):
            continue
        tag = _fresh(graph, "softmax_by_hand")
        axes = numpy_helper.from_array(np.array([axis], np.int64), f"{tag}_axes")
        graph.initializer.append(axes)
        x = node.input[0]
        _replace(
            graph,
            [node],
            [
                helper.make_node("ReduceMax", [x, axes.name], [f"{tag}_max"], keepdims=1),
                helper.make_node("Sub", [x, f"{tag}_max"], [f"{tag}_shifted"]),
                helper.make_node("Exp", [f"{tag}_shifted"], [f"{tag}_exp"]),
                helper.make_node(
                    "ReduceSum", [f"{tag}_exp", axes.name], [f"{tag}_sum"], keepdims=1
                ),
                helper.make_node("Div", [f"{tag}_exp", f"{tag}_sum"], list(node.output)),
            ],
        )
        done += 1
    return done


def _is_plain_pointwise(conv: onnx.NodeProto, weights: np.ndarray) -> bool:
    """A 1x1 convolution, one group, stride 1, no padding: a matrix product per cell."""
    return (
        weights.ndim == 4
        and weights.shape[2:] == (1, 1)
        and int(_attribute(conv, "group", 1)) == 1  # type: ignore[call-overload]
        and all(s == 1 for s in _attribute(conv, "strides", [1, 1]))  # type: ignore[attr-defined]
        and all(p == 0 for p in _attribute(conv, "pads", [0, 0, 0, 0]))  # type: ignore[attr-defined]
        and all(d == 1 for d in _attribute(conv, "dilations", [1, 1]))  # type: ignore[attr-defined]
    )


def _nearest_upsampling(node: onnx.NodeProto | None, constants: dict[str, np.ndarray]) -> bool:
    """A Resize that repeats cells (nearest neighbour) and changes neither batch nor channels:
    a per-cell operation such as a 1x1 convolution gives the same before or after it."""
    if node is None or node.op_type != "Resize" or len(node.input) < 3:
        return False
    if _attribute(node, "mode", b"nearest") not in (b"nearest", "nearest"):
        return False
    scales = constants.get(node.input[2])
    return scales is not None and scales.size >= 2 and bool(np.all(scales[:2] == 1.0))


def split_concatenations(model: onnx.ModelProto) -> int:
    """Turn every 1x1 convolution of a channel concatenation into a sum of 1x1 convolutions
    of its parts, a part that is upsampled convolved before; returns how many."""
    graph = model.graph
    shapes = _ranks_and_channels(model)
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    users = _consumers(graph)
    done = 0
    for concat in [n for n in graph.node if n.op_type == "Concat"]:
        after = users.get(concat.output[0], [])
        if int(_attribute(concat, "axis", 0)) != 1 or len(after) != 1:  # type: ignore[call-overload]
            continue
        conv = after[0]
        weights = constants.get(conv.input[1]) if conv.op_type == "Conv" else None
        if weights is None or not _is_plain_pointwise(conv, weights):
            continue
        channels = [shapes.get(name, (0, 0))[1] for name in concat.input]
        if 0 in channels or sum(channels) != weights.shape[1]:
            continue
        tag = _fresh(graph, "split_concatenation")
        new: list[onnx.NodeProto] = []
        removed = [concat, conv]
        parts: list[str] = []
        start = 0
        for j, (name, width) in enumerate(zip(concat.input, channels, strict=True)):
            part = numpy_helper.from_array(
                np.ascontiguousarray(weights[:, start : start + width]), f"{tag}_w{j}"
            )
            start += width
            graph.initializer.append(part)
            inputs = [name, part.name]
            if j == 0 and len(conv.input) > 2:  # the bias once: it also commutes with upsampling
                inputs.append(conv.input[2])
            upsampling = producer.get(name)
            if _nearest_upsampling(upsampling, constants) and len(users[name]) == 1:
                assert upsampling is not None  # for mypy: _nearest_upsampling checked it
                inputs[0] = upsampling.input[0]
                new.append(helper.make_node("Conv", inputs, [f"{tag}_low{j}"], kernel_shape=[1, 1]))
                resize = onnx.NodeProto()
                resize.CopyFrom(upsampling)
                resize.name = f"{tag}_up{j}"
                resize.input[0] = f"{tag}_low{j}"
                del resize.output[:]
                resize.output.append(f"{tag}_part{j}")
                new.append(resize)
                removed.append(upsampling)
            else:
                new.append(
                    helper.make_node("Conv", inputs, [f"{tag}_part{j}"], kernel_shape=[1, 1])
                )
            parts.append(f"{tag}_part{j}")
        total = parts[0]
        for j, part_name in enumerate(parts[1:], start=1):
            out = conv.output[0] if j == len(parts) - 1 else f"{tag}_sum{j}"
            new.append(helper.make_node("Add", [total, part_name], [out]))
            total = out
        _replace(graph, removed, new)
        done += 1
    return done


#: Pad modes that only copy values of the tensor: they commute with a quantisation per value.
_COPYING_PADS: Final = (b"edge", b"reflect", b"wrap")


def _copy_node(node: onnx.NodeProto) -> onnx.NodeProto:
    copied = onnx.NodeProto()
    copied.CopyFrom(node)
    return copied


def quantise_before_padding(model: onnx.ModelProto) -> int:
    """Move every quantisation that follows a wrap-around padding (slices of one tensor joined
    to it, then padded by repeating its edge) to before it; returns how many.

    The padding only copies values and a quantisation with one scale works value by value, so
    the result is the same to the bit; but the copies are then made of uint8, a quarter of the
    bytes, and onnxruntime joins the convolution's output quantisation to the convolution."""
    graph = model.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    users = _consumers(graph)
    done = 0

    def only_for(tensor: str, node: onnx.NodeProto) -> bool:
        return [u.output[0] if u.output else "" for u in users.get(tensor, [])] == [node.output[0]]

    for quantise in [n for n in graph.node if n.op_type == "QuantizeLinear"]:
        pad = producer.get(quantise.input[0])
        if pad is None or pad.op_type != "Pad" or not only_for(pad.output[0], quantise):
            continue
        if _attribute(pad, "mode", b"constant") not in _COPYING_PADS:
            continue
        join = producer.get(pad.input[0])
        if join is None or join.op_type != "Concat" or not only_for(join.output[0], pad):
            continue
        slices = [
            producer[name] for name in join.input if producer.get(name, pad).op_type == "Slice"
        ]
        sources = {name for name in join.input if name not in {s.output[0] for s in slices}}
        sources |= {s.input[0] for s in slices}
        scale = constants.get(quantise.input[1])
        if len(sources) != 1 or scale is None or scale.size != 1:
            continue
        if not all(only_for(s.output[0], join) for s in slices):
            continue
        source = sources.pop()
        early = _copy_node(quantise)
        early.name = f"{_fresh(graph, 'quantised_early')}_node"
        early.input[0] = source
        early.output[0] = f"{early.name}_out"
        moved = [_copy_node(n) for n in (*slices, join, pad)]
        for node in moved[:-1]:
            node.input[:] = [early.output[0] if name == source else name for name in node.input]
        moved[-1].output[0] = quantise.output[0]  # what read the quantised tensor still does
        floats = {s.output[0] for s in slices} | {join.output[0], pad.output[0]}
        infos = [i for i in graph.value_info if i.name not in floats]
        del graph.value_info[:]
        graph.value_info.extend(infos)
        _replace(graph, [*slices, join, pad, quantise], [early, *moved])
        done += 1
    return done


def _drop_unused(model: onnx.ModelProto) -> None:
    """Initializers and shape records of tensors no node reads or writes any more."""
    graph = model.graph
    read = {name for node in graph.node for name in node.input}
    written = {name for node in graph.node for name in node.output}
    read |= {output.name for output in graph.output}
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    infos = [i for i in graph.value_info if i.name in read | written]
    del graph.value_info[:]
    graph.value_info.extend(infos)


def quicker(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` (either network as exported) rewritten as the module docstring says, in
    place; returned for chaining. A rule finds nothing to do in a graph without its pattern."""
    softmax_by_hand(model)
    split_concatenations(model)
    quantise_before_padding(model)
    _drop_unused(model)
    onnx.checker.check_model(model)
    return model


def largest_difference(
    before: bytes, after: bytes, feeds: Sequence[dict[str, np.ndarray]]
) -> float:
    """The largest absolute difference between two networks' outputs on ``feeds`` (input
    names to arrays)."""
    import onnxruntime as ort  # noqa: PLC0415 - only this check runs a network

    sessions = [
        ort.InferenceSession(data, providers=["CPUExecutionProvider"]) for data in (before, after)
    ]
    worst = 0.0
    for feed in feeds:
        outputs = [s.run(None, feed) for s in sessions]
        for a, b in zip(*outputs, strict=True):
            worst = max(worst, float(np.abs(np.asarray(a) - np.asarray(b)).max()))
    return worst


def _feeds(
    recognizer: TrayRecognizer, count: int
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """Inputs of both networks from ``count`` rendered held-out trays: the letterboxed frames,
    and the rim strips of every peak the first network finds down to a heat of 0.05."""
    from models.traycolour import seeds  # noqa: PLC0415 - rendering only for the check
    from models.traycolour.decode import find_peaks  # noqa: PLC0415
    from models.traycolour.preprocess import letterbox  # noqa: PLC0415
    from models.traycolour.synth import render_tray  # noqa: PLC0415

    first, crops = [], []
    for seed in range(seeds.HELD_OUT_START, seeds.HELD_OUT_START + count):
        frame = render_tray(seed)[0]
        canvas = letterbox(frame)[0]
        first.append({"image": canvas[None]})
        outputs, box = recognizer.infer(frame)
        peaks = find_peaks(outputs.heat, outputs.geometry, 0.05)
        if len(peaks):
            strips, references = recognizer.cut_crops(frame, canvas, outputs, box, peaks)
            crops.append({"strips": strips, "reference": references})
    return first, crops


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description="Rewrite a pair's networks into the quicker graphs the export now writes "
        "(same weights, same outputs up to float rounding), in place."
    )
    add_pair_option(parser)
    parser.add_argument("--trays", type=int, default=20, help="rendered trays to compare on")
    parser.add_argument("--dry-run", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    try:
        # Checks both files against their digests and that they belong together.
        recognizer = TrayRecognizer(args.model)
    except (OSError, RuntimeError, ValueError) as exc:
        sys.stderr.write(f"cannot load the model {args.model}: {exc}\n")
        return 2
    paths = recognizer.model_files
    models = [onnx.load(str(path)) for path in paths]
    metas = [metadata(model) for model in models]
    before = [model.SerializeToString() for model in models]
    after = [quicker(model).SerializeToString() for model in models]
    if after == before:
        sys.stdout.write(f"{args.model}: already in the quicker form, nothing to write\n")
        return 0
    feeds = _feeds(recognizer, args.trays)
    for path, old, new, inputs in zip(paths, before, after, feeds, strict=False):
        if new == old:
            sys.stdout.write(f"{path.name}: already in the quicker form\n")
            continue
        worst = largest_difference(old, new, inputs)
        sys.stdout.write(
            f"{path.name}: largest difference of any output on {args.trays} rendered trays: "
            f"{worst:.2g}\n"
        )
        if worst > TOLERANCE:
            sys.stderr.write(f"more than {TOLERANCE:g}: the rewrite is wrong, nothing written\n")
            return 1
    if args.dry_run:
        sys.stdout.write("dry run: nothing written\n")
        return 0
    if len(paths) > 1 and after[1] != before[1]:
        digest = write_model(models[1], paths[1], metas[1])
        metas[0].update(crop_model_note(paths[1], digest))
        sys.stdout.write(f"wrote {paths[1]} (sha256 {digest[:12]}...)\n")
    digest = write_model(models[0], paths[0], metas[0])
    sys.stdout.write(rewritten(paths[0], digest, recognizer.model_version))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
