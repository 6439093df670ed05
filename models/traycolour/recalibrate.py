"""Choose an existing model pair's decision thresholds again, without retraining.

    python -m models.traycolour.recalibrate [--model traycolour.onnx] [--val-trays 4000]
                                            [--max-wrong 0.0025] [--dry-run]

The networks are left as they are: the validation trays are rendered, both networks run on
them once, ``calibrate.choose`` picks the thresholds, and only the first file's metadata
(``thresholds`` and the ``calibration`` note) is rewritten, with its ``.sha256``. The model
version changes with it, since the thresholds are part of what the model does. The crop
classifier's file is not touched, so the first file's pin on it still holds.

Needs ``onnx`` (the dev extra), not torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

import onnx

from models.traycolour import seeds
from models.traycolour.calibrate import MAX_WRONG, VALIDATION_TRAYS, choose, collect, outcome
from models.traycolour.metrics import summarise
from models.traycolour.onnx_files import add_pair_option, metadata, rewritten, write_model
from models.traycolour.runtime import TrayRecognizer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from models.traycolour.calibrate import Raw
    from models.traycolour.decode import Thresholds


def _figures(raws: Sequence[Raw], t: Thresholds) -> str:
    s = summarise([outcome(r, t) for r in raws])
    return (
        f"item accuracy {100 * s.item_accuracy:.2f} %, billed exactly "
        f"{100 * s.billed_exactly:.2f} %, wrongly billed {100 * s.wrongly_billed:.2f} %, "
        f"handled correctly {100 * s.handled_correctly:.2f} %"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description="Choose a model pair's decision thresholds again on validation trays and "
        "write them into the first model file's metadata (the networks are not retrained)."
    )
    add_pair_option(parser)
    parser.add_argument(
        "--val-trays",
        type=int,
        default=VALIDATION_TRAYS,
        help=f"validation trays to choose on, from seed {seeds.VALIDATION[0]} "
        f"(default {VALIDATION_TRAYS})",
    )
    parser.add_argument(
        "--max-wrong",
        type=float,
        default=MAX_WRONG,
        help=f"share of the validation trays that may be billed wrongly (default {MAX_WRONG})",
    )
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be chosen; write nothing"
    )
    args = parser.parse_args(argv)
    if not 0 < args.val_trays <= len(seeds.VALIDATION):
        parser.error(f"--val-trays must be 1 to {len(seeds.VALIDATION)}")
    if not 0.0 <= args.max_wrong < 1.0:
        parser.error("--max-wrong is a share of the trays, from 0 to below 1")
    try:
        # Checks both files against their digests; only what is needed is kept, so that the
        # rendering processes are not forked from a process holding a session.
        recognizer = TrayRecognizer(args.model)
    except (OSError, RuntimeError, ValueError) as exc:
        sys.stderr.write(f"cannot load the model {args.model}: {exc}\n")
        return 2
    in_force, version = recognizer.thresholds, recognizer.model_version
    del recognizer
    began = time.monotonic()
    chosen_seeds = seeds.VALIDATION[: args.val_trays]
    raws = collect(args.model, chosen_seeds, args.workers, label="validation trays")
    chosen = choose(raws, args.max_wrong)
    sys.stdout.write(
        f"on {len(raws)} validation trays (seeds {chosen_seeds[0]}..{chosen_seeds[-1]}), "
        f"{time.monotonic() - began:.0f} s:\n"
        f"  in force: {in_force}\n    {_figures(raws, in_force)}\n"
        f"  chosen:   {chosen}\n    {_figures(raws, chosen)}\n"
    )
    if args.dry_run:
        sys.stdout.write("dry run: nothing written\n")
        return 0
    if chosen == in_force:
        sys.stdout.write("the thresholds in force are the ones chosen: nothing to write\n")
        return 0
    model = onnx.load(str(args.model))
    meta = metadata(model)
    meta["thresholds"] = chosen.to_json()
    meta["calibration"] = (
        f"re-chosen by models.traycolour.recalibrate on {len(raws)} validation trays (seeds "
        f"{chosen_seeds[0]}..{chosen_seeds[-1]}), wrong bills at most "
        f"{100 * args.max_wrong:.2f} %: {_figures(raws, chosen)}"
    )
    sys.stdout.write(rewritten(args.model, write_model(model, args.model, meta), version))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
