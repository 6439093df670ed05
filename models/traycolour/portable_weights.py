"""Rewrite an existing model pair's int8 weights as uint8, so that it gives the same answers on
every CPU (``quantise.unsigned_weights`` says why), without retraining or re-calibrating.

    python -m models.traycolour.portable_weights [--model traycolour.onnx] [--dry-run]

Both files are rewritten in place with their ``.sha256``; the first file's pin on the crop
classifier (``crop_model``) follows the crop file's new digest. The values the networks compute
do not change (on a CPU with VNNI, where the int8 kernels were exact already, not at all), but
the files' digests and so the model version do. A pair whose weights are uint8 already is left
alone. Builds since this tool quantise straight to uint8 weights; it is for pairs built before.
The crop file is written first: a run interrupted before the first file is written leaves a
pair whose pin no longer matches, which the recogniser refuses to load; restore both files
(``git checkout models/traycolour``) and run again.

Needs ``onnx`` (the dev extra), not torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from models.traycolour.onnx_files import add_pair_option, metadata, write_model
from models.traycolour.quantise import unsigned_weights
from models.traycolour.runtime import TrayRecognizer, read_verified

if TYPE_CHECKING:
    from collections.abc import Sequence


def _int8_weights(model: onnx.ModelProto) -> int:
    dequantised = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    return sum(
        1
        for tensor in model.graph.initializer
        if tensor.name in dequantised and tensor.data_type == onnx.TensorProto.INT8
    )


def convert_pair(first: Path, *, dry_run: bool = False) -> list[str]:
    """Convert the pair whose first file is ``first``; returns one line per file saying what
    was (or, with ``dry_run``, would be) done."""
    read_verified(first)
    model = onnx.load(str(first))
    meta = metadata(model)
    lines = []
    if "crop_model" in meta:
        pin = json.loads(meta["crop_model"])
        crop_path = first.with_name(pin["file"])
        read_verified(crop_path, pin["sha256"])
        crop = onnx.load(str(crop_path))
        count = _int8_weights(crop)
        if count and not dry_run:
            pin["sha256"] = write_model(unsigned_weights(crop), crop_path, metadata(crop))
            meta["crop_model"] = json.dumps(pin)
        lines.append(f"{crop_path.name}: {count} int8 weight tensors")
    count = _int8_weights(model)
    pin_moved = meta != metadata(model)
    if (count or pin_moved) and not dry_run:
        write_model(unsigned_weights(model), first, meta)
    lines.append(f"{first.name}: {count} int8 weight tensors")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description="Store a model pair's int8 weights as uint8 (the same values), so that "
        "onnxruntime computes them exactly on CPUs without VNNI too; rewrites both files and "
        "their .sha256 in place."
    )
    add_pair_option(parser)
    parser.add_argument("--dry-run", action="store_true", help="say what would change only")
    args = parser.parse_args(argv)
    try:
        before = TrayRecognizer(args.model).model_version
        lines = convert_pair(args.model, dry_run=args.dry_run)
    except (OSError, RuntimeError, ValueError) as exc:
        sys.stderr.write(f"cannot convert the model {args.model}: {exc}\n")
        return 2
    for line in lines:
        sys.stdout.write(f"  {line}\n")
    after = TrayRecognizer(args.model).model_version
    if args.dry_run:
        sys.stdout.write("dry run: nothing written\n")
    elif after == before:
        sys.stdout.write(f"nothing to convert: model {before} is unchanged\n")
    else:
        sys.stdout.write(f"converted: model {before} is now {after}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
