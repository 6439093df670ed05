"""Builds the tray-colour model end to end: ``python -m models.traycolour.build``.

1. renders the training trays (training seeds only), cutting the crop classifier's samples
   from the full-resolution frames as it goes;
2. trains the first network (dish centres, boxes, per-cell classes) on the CPU;
3. trains the crop classifier (second stage) on the crops;
4. exports both to ONNX, the crop classifier quantised to int8 with activation ranges measured
   on training strips (``quantise``), the first network in float32 (below), and picks the
   decision thresholds on validation trays with the exported pair, as the checkout runs it;
5. writes ``traycolour.onnx`` and ``traycolour_crops.onnx`` (each with its ``.sha256``) next
   to this file; the first names the second and pins its digest in its metadata;
6. runs the evaluation on held-out and drawn-differently trays, which rewrites REPORT.md.

Needs the ``train`` extra (torch 2.13.0 CPU, onnxscript); ``make model`` installs it first.

Why the first network stays float32: its 8-bit weights must be stored as uint8 to give exact
answers on CPUs without VNNI (``quantise.unsigned_weights``), and in that form onnxruntime
ran it no faster than in float32 (an AMD EPYC with VNNI, one thread: 4.5 ms for the previous
pair's uint8 file against 4.2 to 4.6 ms for this network in float32; 3.0 against 2.7 ms for a
narrower variant), while float32 leaves its heat map free of quantisation error. The crop
classifier in uint8 was still a little quicker (1.08 against 1.20 ms for four strips).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from models.traycolour import evaluate, seeds
from models.traycolour.calibrate import MAX_WRONG, VALIDATION_TRAYS, calibrate
from models.traycolour.dataset import render_arrays
from models.traycolour.decode import Thresholds
from models.traycolour.selftest import write as write_self_test
from models.traycolour.side_by_side import side_by_side
from models.traycolour.synth import TRAINING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from models.traycolour.crop_samples import CropSamples
    from models.traycolour.dataset import TrayArrays
    from models.traycolour.quantise import Feed
    from models.traycolour.train import TrainConfig
    from models.traycolour.train_crop_network import RimNet
    from models.traycolour.train_crops import CropConfig
    from models.traycolour.train_network import TrayNet

MODEL_PATH = Path(__file__).with_name("traycolour.onnx")

#: Side by side, each on one thread, the crop classifier takes this many steps while the first
#: network takes one (this AMD EPYC: 4,851 steps during the first network's 1,700; at 2,300
#: steps, the crop classifier reached step 6,555 as the first network finished). It sets the
#: step at which the crop classifier waits for the first network to finish and takes its core.
#: Where the two speeds compare differently one core idles for a while; the training is the
#: same.
CROP_STEPS_PER_FIRST_STEP = 2.85


def crop_model_path(model: Path) -> Path:
    """Where the crop classifier of the first network at ``model`` is written."""
    return model.with_name(model.stem + "_crops.onnx")


def _stage(title: str, began: float) -> None:
    sys.stdout.write(f"[{(time.monotonic() - began) / 60:5.1f} min] {title}\n")
    sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Build the tray-colour model.")
    parser.add_argument(
        "--train-trays",
        type=int,
        default=20000,
        help=f"training trays to render, from seed {seeds.TRAIN[0]} (default 20000)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=2300,
        help="first-network training steps of 32 trays (default 2300; fewer shorten the "
        "build, not tested for accuracy)",
    )
    parser.add_argument(
        "--crop-steps",
        type=int,
        default=8000,
        help="crop classifier steps of 128 rim strips (default 8000)",
    )
    parser.add_argument(
        "--val-trays",
        type=int,
        default=VALIDATION_TRAYS,
        help=f"validation trays the thresholds are chosen on (default {VALIDATION_TRAYS})",
    )
    parser.add_argument(
        "--max-wrong",
        type=float,
        default=MAX_WRONG,
        help=f"share of the validation trays that may be billed wrongly (default {MAX_WRONG})",
    )
    parser.add_argument(
        "--eval-n", type=int, default=2000, help="held-out trays to evaluate on (default 2000)"
    )
    parser.add_argument(
        "--alt-n",
        type=int,
        default=2000,
        help="trays drawn differently to evaluate on (default 2000)",
    )
    parser.add_argument("--workers", type=int, default=2, help="rendering processes (default 2)")
    parser.add_argument(
        "--output",
        type=Path,
        default=MODEL_PATH,
        help="the first model file; the crop classifier is written beside it as "
        "<name>_crops.onnx (default: the committed pair's place)",
    )
    parser.add_argument(
        "--skip-eval", action="store_true", help="do not evaluate nor rewrite REPORT.md"
    )
    parser.add_argument(
        "--no-bf16",
        action="store_true",
        help="train in float32 even where the CPU has bfloat16 (slower; the default uses "
        "bfloat16 for the forward pass when the CPU computes it natively)",
    )
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="train the first network and then the crop classifier, each on two threads, "
        "instead of side by side (slower on two cores; for comparing the two ways)",
    )
    parser.add_argument(
        "--float32",
        action="store_true",
        help="leave the crop classifier in float32 too instead of quantising it to int8 "
        "(the first network always is float32; for comparing the two)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.train_trays > len(seeds.TRAIN) or args.val_trays > len(seeds.VALIDATION):
        parser.error("more trays than the seed ranges hold")
    if not 0.0 <= args.max_wrong < 1.0:
        parser.error("--max-wrong is a share of the trays, from 0 to below 1")

    # Imported here, not at the top, so that a missing training extra gets a clear message.
    try:
        from models.traycolour import export  # noqa: F401, PLC0415
        from models.traycolour.quantise import strip_feeds  # noqa: PLC0415
        from models.traycolour.train import TrainConfig  # noqa: PLC0415
        from models.traycolour.train_crops import CropConfig  # noqa: PLC0415
        from models.traycolour.training_loop import bf16_supported  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        sys.stderr.write(
            f"training needs the 'train' extra ({exc}); run `make model`, or\n"
            "  .venv/bin/pip install torch==2.13.0 onnxscript\n"
        )
        return 2

    args.output.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    _stage(f"rendering {args.train_trays} training trays", began)
    arrays = render_arrays(
        seeds.TRAIN[: args.train_trays],
        TRAINING,
        args.workers,
        label="training trays",
        crops=True,
    )
    samples = arrays.crops
    if samples is None:  # pragma: no cover - asked for above
        msg = "the renderer returned no crops"
        raise RuntimeError(msg)

    bf16 = bf16_supported() and not args.no_bf16
    config = TrainConfig(steps=args.steps, bf16=bf16)
    crop_config = CropConfig(steps=args.crop_steps, bf16=bf16)
    net, crop_net = _train_both(
        (arrays, samples), (config, crop_config), one_at_a_time=args.one_at_a_time, began=began
    )
    del arrays
    strips = None if args.float32 else strip_feeds(samples)
    del samples

    notes = {
        "training": json.dumps(
            {
                "trays": args.train_trays,
                "seeds": f"{seeds.TRAIN[0]}..{seeds.TRAIN[args.train_trays - 1]}",
                "steps": config.steps,
                "batch": config.batch,
                "crop_steps": crop_config.steps,
                "crop_batch": crop_config.batch,
                "forward_pass": "bfloat16" if bf16 else "float32",
            }
        )
    }
    _calibrate_and_write(args, (net, crop_net), strips, notes, began)

    if not args.skip_eval:
        _stage("evaluating", began)
        code = evaluate.main(_evaluate_options(args))
        if code:
            return code
    _stage("done", began)
    return 0


def _train_both(
    data: tuple[TrayArrays, CropSamples],
    configs: tuple[TrainConfig, CropConfig],
    *,
    one_at_a_time: bool,
    began: float,
) -> tuple[TrayNet, RimNet]:
    """Train the first network and the crop classifier: side by side (the first network in a
    second process on one thread, the crop classifier here on one thread and then on
    ``crop_config.threads`` once the first is done), or with ``one_at_a_time`` one after the
    other, each on its config's threads."""
    from models.traycolour.train import train  # noqa: PLC0415 - needs the training extra
    from models.traycolour.train_crops import Widening, train_crops  # noqa: PLC0415

    (arrays, samples), (config, crop_config) = data, configs
    precision = "bfloat16" if config.bf16 else "float32"
    first = f"{config.steps} steps of {config.batch} trays"
    second = f"{crop_config.steps} steps of {crop_config.batch} of {len(samples.labels)} crops"
    if one_at_a_time:
        _stage(f"training the first network, {first} ({precision} forward pass)", began)
        net = train(arrays, config)
        _stage(f"training the crop classifier, {second}", began)
        return net, train_crops(samples, crop_config)
    # The first network gains least from a second thread: it gets one core to itself, and
    # the crop classifier the other, then both once the first is done.
    alone = dataclasses.replace(config, threads=1)
    widen_at = max(1, min(crop_config.steps, round(config.steps * CROP_STEPS_PER_FIRST_STEP)))
    _stage(
        f"training side by side ({precision} forward pass): the first network, {first}, in "
        f"a second process on one thread; the crop classifier, {second}, here on one "
        f"thread, and from step {widen_at} on {crop_config.threads}",
        began,
    )
    both = side_by_side(
        lambda: train(arrays, alone),
        lambda wait: train_crops(
            samples,
            dataclasses.replace(crop_config, threads=1),
            Widening(widen_at, crop_config.threads, wait),
        ),
    )
    _stage("both networks trained", began)
    return both


def _calibrate_and_write(
    args: argparse.Namespace,
    nets: tuple[TrayNet, RimNet],
    strips: Sequence[Feed] | None,
    notes: dict[str, str],
    began: float,
) -> None:
    """Export both networks (the crop classifier in int8 when given its calibration inputs),
    choose the thresholds on the exported pair, and write it to ``args.output``."""
    from models.traycolour.export import (  # noqa: PLC0415 - needs the training extra
        crop_network,
        first_network,
        write_crop_network,
        write_first_network,
    )
    from models.traycolour.onnx_files import crop_model_note  # noqa: PLC0415 - needs onnx

    if strips is not None:
        _stage("quantising the crop classifier to int8 on training strips", began)
    first = first_network(nets[0])
    crops = crop_network(nets[1], strips)
    _stage(f"calibrating thresholds on {args.val_trays} validation trays", began)
    with tempfile.TemporaryDirectory() as tmp:
        draft = Path(tmp) / "draft.onnx"
        draft_crops = crop_model_path(draft)
        crop_digest = write_crop_network(crops, draft_crops, {})
        pair = crop_model_note(draft_crops, crop_digest)
        write_first_network(first, draft, Thresholds(), notes | pair)
        chosen, note = calibrate(
            draft,
            seeds.VALIDATION[: args.val_trays],
            workers=args.workers,
            max_wrong=args.max_wrong,
        )
    notes["calibration"] = note
    crops_path = crop_model_path(args.output)
    crop_digest = write_crop_network(crops, crops_path, {})
    pair = crop_model_note(crops_path, crop_digest)
    digest = write_first_network(first, args.output, chosen, notes | pair)
    size = (args.output.stat().st_size + crops_path.stat().st_size) / 1e6
    self_test = write_self_test(args.output)
    _stage(
        f"wrote {args.output} and {crops_path.name} ({size:.2f} MB together, sha256 "
        f"{digest[:12]}... and {crop_digest[:12]}...), and their self-test {self_test.name}",
        began,
    )


def _evaluate_options(args: argparse.Namespace) -> list[str]:
    # Only non-default options, so that REPORT.md shows the shortest reproducing command.
    options = []
    if args.eval_n != 2000:
        options += ["--n", str(args.eval_n)]
    if args.alt_n != 2000:
        options += ["--alt-n", str(args.alt_n)]
    if args.output != MODEL_PATH:
        # A model built elsewhere gets its report beside it, not over the committed one's.
        report = args.output.with_name("REPORT.md")
        options += ["--model", str(args.output), "--report", str(report)]
    if args.workers != 2:
        options += ["--workers", str(args.workers)]
    return options


if __name__ == "__main__":
    raise SystemExit(main())
