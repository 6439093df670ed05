"""Builds the tray-colour model end to end: ``python -m models.traycolour.build``.

1. renders the training trays (training seeds only);
2. trains the network on the CPU;
3. exports it to ONNX and picks the decision thresholds on validation trays;
4. writes ``traycolour.onnx`` and ``traycolour.onnx.sha256`` next to this file;
5. runs the evaluation on held-out and drawn-differently trays, which rewrites REPORT.md.

Needs the ``train`` extra (torch 2.13.0 CPU, onnxscript); ``make model`` installs it first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from models.traycolour import evaluate, seeds
from models.traycolour.calibrate import calibrate
from models.traycolour.dataset import render_arrays
from models.traycolour.decode import Thresholds
from models.traycolour.synth import TRAINING

if TYPE_CHECKING:
    from collections.abc import Sequence

MODEL_PATH = Path(__file__).with_name("traycolour.onnx")


def _stage(title: str, began: float) -> None:
    sys.stdout.write(f"[{(time.monotonic() - began) / 60:5.1f} min] {title}\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Build the tray-colour model.")
    parser.add_argument("--train-trays", type=int, default=8000)
    parser.add_argument("--steps", type=int, default=1700, help="training steps of 32 trays")
    parser.add_argument("--val-trays", type=int, default=1000)
    parser.add_argument("--eval-n", type=int, default=2000)
    parser.add_argument("--alt-n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=MODEL_PATH)
    parser.add_argument("--skip-eval", action="store_true")
    args = parser.parse_args(argv)
    if args.train_trays > len(seeds.TRAIN) or args.val_trays > len(seeds.VALIDATION):
        parser.error("more trays than the seed ranges hold")

    # Imported here, not at the top, so that a missing training extra gets a clear message.
    try:
        from models.traycolour.export import export_onnx  # noqa: PLC0415
        from models.traycolour.train import TrainConfig, train  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        sys.stderr.write(
            f"training needs the 'train' extra ({exc}); run `make model`, or\n"
            "  .venv/bin/pip install torch==2.13.0 onnxscript\n"
        )
        return 2

    began = time.monotonic()
    _stage(f"rendering {args.train_trays} training trays", began)
    arrays = render_arrays(
        seeds.TRAIN[: args.train_trays], TRAINING, args.workers, label="training trays"
    )

    config = TrainConfig(steps=args.steps)
    _stage(f"training {config.steps} steps of {config.batch} trays on the CPU", began)
    net = train(arrays, config)
    del arrays

    notes = {
        "training": json.dumps(
            {
                "trays": args.train_trays,
                "seeds": f"{seeds.TRAIN[0]}..{seeds.TRAIN[args.train_trays - 1]}",
                "steps": config.steps,
                "batch": config.batch,
            }
        )
    }
    _stage(f"calibrating thresholds on {args.val_trays} validation trays", began)
    with tempfile.TemporaryDirectory() as tmp:
        draft = Path(tmp) / "draft.onnx"
        export_onnx(net, draft, Thresholds(), notes)
        chosen, note = calibrate(draft, seeds.VALIDATION[: args.val_trays], workers=args.workers)
    notes["calibration"] = note
    digest = export_onnx(net, args.output, chosen, notes)
    size = args.output.stat().st_size / 1e6
    _stage(f"wrote {args.output} ({size:.2f} MB, sha256 {digest[:12]}...)", began)

    if not args.skip_eval:
        _stage("evaluating", began)
        # Only non-default options, so that REPORT.md shows the shortest reproducing command.
        options = []
        if args.eval_n != 2000:
            options += ["--n", str(args.eval_n)]
        if args.alt_n != 2000:
            options += ["--alt-n", str(args.alt_n)]
        if args.output != MODEL_PATH:
            options += ["--model", str(args.output)]
        if args.workers != 2:
            options += ["--workers", str(args.workers)]
        code = evaluate.main(options)
        if code:
            return code
    _stage("done", began)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
