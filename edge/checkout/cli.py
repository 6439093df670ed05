"""``tianshan checkout recognize IMAGE…``: what the box would see, from image files;
``tianshan checkout field-check FOLDER``: a model pair on the frames staff corrected."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_checkout_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rec = sub.add_parser(
        "recognize",
        help="recognise the dishes on tray images and, with --prices, bill them",
        description="Recognise the dishes on tray images (JPEG or PNG, 320x240 to 1920x1080) "
        "and, with --prices, bill them. Prints one result per image. A dish the model is "
        "not sure of is 'unknown' and sends the tray to staff; its most likely colour is "
        "shown as a guess (unknown(blue?), or 'guess' with --json) and never billed.",
    )
    rec.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE", help="tray images (JPEG or PNG)"
    )
    rec.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="price table (TOML: colour = price in yuan, e.g. red = 12)",
    )
    rec.add_argument("--json", action="store_true", help="one JSON object per image, per line")
    rec.add_argument(
        "--model", type=Path, metavar="FILE", help="an .onnx other than the committed one"
    )
    rec.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    check = sub.add_parser(
        "field-check",
        help="run a model pair on the frames staff corrected at the kiosk",
        description="Run a model pair on the box's labelled frames (the kiosk keeps each "
        "frame staff corrected, with what they said, in <state dir>/checkout/labelled) and "
        "say how many it would bill as staff did, bill wrongly, or send to staff, beside "
        "what the model in use did then. These are the trays the model in use got wrong or "
        "was unsure of, so the figures show how a new pair does on the hard cases, not its "
        "accuracy on all trays. Exit status 1 when a frame could not be read.",
    )
    check.add_argument("folder", type=Path, metavar="FOLDER", help="a folder of labelled frames")
    check.add_argument(
        "--model", type=Path, metavar="FILE", help="an .onnx other than the committed one"
    )
    check.add_argument("--json", action="store_true", help="the summary and every tray as JSON")
    return run_checkout


def run_checkout(args: argparse.Namespace) -> int:
    if args.action == "field-check":
        return _field_check(args)
    return _recognize(args)


def _field_check(args: argparse.Namespace) -> int:
    from edge.checkout.field_check import check_folder, format_check
    from models.traycolour.runtime import ModelIntegrityError, TrayRecognizer

    if not args.folder.is_dir():
        print(f"tianshan checkout: {args.folder} is not a folder", file=sys.stderr)
        return 2
    if not any(args.folder.glob("*.json")):
        print(f"tianshan checkout: no labelled frames (*.json) in {args.folder}", file=sys.stderr)
        return 2
    try:
        recognizer = TrayRecognizer(args.model)
    except (OSError, ModelIntegrityError) as exc:
        print(f"tianshan checkout: {exc}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total:
            print(f"\r  {done}/{total} frames", end="\n" if done == total else "", file=sys.stderr)

    check = check_folder(args.folder, recognizer, progress)
    if args.json:
        print(json.dumps(check.as_json(), ensure_ascii=False))
    else:
        print(format_check(check), end="")
    return 1 if check.unreadable else 0


def _recognize(args: argparse.Namespace) -> int:
    from edge.checkout.bill import bill_tray
    from edge.checkout.prices import PriceError, load_price_table
    from models.traycolour.runtime import (
        InvalidImageError,
        ModelIntegrityError,
        TrayRecognizer,
        load_image,
    )
    from wire.checkout import fen_to_yuan

    try:
        prices = load_price_table(args.prices) if args.prices else None
        recognizer = TrayRecognizer(args.model, threads=args.threads)
    except (PriceError, OSError, ModelIntegrityError) as exc:
        print(f"tianshan checkout: {exc}", file=sys.stderr)
        return 2
    if recognizer.self_test.failed:
        print(
            f"tianshan checkout: the model failed its self-test on this CPU "
            f"({recognizer.self_test.detail}): every tray needs staff",
            file=sys.stderr,
        )
    failed = 0
    for path in args.images:
        result: dict[str, Any] = {"image": str(path)}
        try:
            image = load_image(path)
            started = time.perf_counter()
            recognition = recognizer.recognize(image)
            result["ms"] = round((time.perf_counter() - started) * 1000, 2)
            result["items"] = [
                {
                    "colour": i.colour,
                    "centre": [round(i.centre[0], 1), round(i.centre[1], 1)],
                    "radius": round(i.radius, 1),
                    "box": [round(v, 1) for v in i.box],
                    "confidence": round(i.confidence, 4),
                    "guess": i.guess,
                }
                for i in recognition.items
            ]
            result["needs_staff"] = recognition.needs_staff
            result["reasons"] = list(recognition.reasons)
            result["model_version"] = recognition.model_version
            if prices is not None:
                # No dish at all is no bill (total 0) and a tray for staff, not an error.
                total_fen = 0
                if recognition.items:
                    tx = bill_tray(recognition, prices, site="cli", image_sha256=None)
                    total_fen = tx.total_fen
                    result["needs_staff"] = tx.needs_staff
                result["total"] = float(fen_to_yuan(total_fen))
                result["total_fen"] = total_fen
                result["price_table_version"] = prices.version
        except (OSError, InvalidImageError, PriceError) as exc:
            failed += 1
            result = {"image": str(path), "error": _reason(exc)}
        _print(result, as_json=args.json)
    return 1 if failed else 0


def _reason(exc: Exception) -> str:
    """The error in words: an OSError's own text without its errno and file name (the
    file is named already)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc)


def _print(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return
    if "error" in result:
        print(f"{result['image']}: ERROR {result['error']}", flush=True)
        return
    from edge.checkout.bill import dish_name

    colours = " ".join(dish_name(i["colour"], i["guess"]) for i in result["items"]) or "(no dish)"
    bill = f"  total ¥{result['total']:.2f}" if "total" in result else ""
    staff = "  → staff: " + "; ".join(result["reasons"]) if result["needs_staff"] else ""
    print(f"{result['image']}: {colours}{bill}{staff}  [{result['ms']} ms]", flush=True)
