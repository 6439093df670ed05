"""Writing a model file with its metadata and its ``.sha256`` beside it (``onnx`` only, no
torch: the export and the tools that rewrite an existing pair all write through here)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer
from models.traycolour.selftest import write as write_self_test

if TYPE_CHECKING:
    import argparse


def write_model(model: onnx.ModelProto, path: Path, meta: dict[str, str]) -> str:
    """Replace ``model``'s metadata by ``meta``, check it, write it to ``path`` and its digest
    to ``path.sha256``; returns the hex digest."""
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


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    """``model``'s metadata as a dict, in file order."""
    return {entry.key: entry.value for entry in model.metadata_props}


def crop_model_note(path: Path, digest: str) -> dict[str, str]:
    """The first model's metadata entry that names its crop model and pins its digest."""
    return {"crop_model": json.dumps({"file": path.name, "sha256": digest})}


def rewritten(path: Path, digest: str, version_before: str) -> str:
    """What a tool that rewrote a pair's first file in place says: the file, its new digest
    and the model version before and after (the pair loaded again, so checked again). The
    pair's self-test is written anew first: the old one names the old version."""
    self_test = write_self_test(path)
    return (
        f"wrote {path} (sha256 {digest[:12]}...): model {version_before} is now "
        f"{TrayRecognizer(path).model_version}; self-test {self_test.name} written anew\n"
    )


def add_pair_option(parser: argparse.ArgumentParser) -> None:
    """``--model``, the first file of the pair a tool rewrites in place (default: the
    committed pair)."""
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL_PATH,
        help="the first model file; its crop classifier is found through its metadata "
        "(default: the committed pair)",
    )
