"""Evaluation of the committed model on held-out synthetic trays; rewrites REPORT.md.

    python -m models.traycolour.evaluate [--n 2000] [--seed 2000000] [--alt-n 2000]

Two sets: trays from the training renderer with seeds training never saw (``synth``), and
trays from an independent renderer that training never saw at all (``synth_alt``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import onnxruntime as ort

from models.traycolour import report, seeds
from models.traycolour.dataset import rendering_pool
from models.traycolour.metrics import TrayOutcome
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer
from models.traycolour.synth import render_tray
from models.traycolour.synth_alt import render_alt_tray

if TYPE_CHECKING:
    from collections.abc import Sequence

    from models.traycolour.labels import TrayLabel

REPORT_PATH = Path(__file__).with_name("REPORT.md")


@dataclass(frozen=True)
class _Job:
    renderer: str
    seed: int
    model: Path


_RECOGNIZER: dict[Path, TrayRecognizer] = {}


def _render(renderer: str, seed: int) -> tuple[np.ndarray, TrayLabel]:
    if renderer == "synth":
        return render_tray(seed)
    return render_alt_tray(seed)


def _run_one(job: _Job) -> TrayOutcome:
    recognizer = _RECOGNIZER.get(job.model)
    if recognizer is None:
        recognizer = _RECOGNIZER[job.model] = TrayRecognizer(job.model, threads=1)
    frame, label = _render(job.renderer, job.seed)
    start = time.perf_counter()
    decoded, box = recognizer.decode_frame(frame)
    result = recognizer.recognition(decoded, box)
    seconds = time.perf_counter() - start
    # The network's top label per item before the thresholds, for the report's diagnostics.
    top = {box.to_frame(d.cx, d.cy): d.best for d in decoded.dishes}
    tops = [top.get(item.centre, item.colour) for item in result.items]
    return TrayOutcome.score(label, result.items, result.needs_staff, seconds, tops)


def run_set(renderer: str, start: int, count: int, model: Path, workers: int) -> list[TrayOutcome]:
    """Render and recognise ``count`` trays from seed ``start`` in ``workers`` processes."""
    jobs = [_Job(renderer, start + i, model) for i in range(count)]
    outcomes: list[TrayOutcome] = []
    began = time.monotonic()
    with rendering_pool(workers) as pool:
        for outcome in pool.imap(_run_one, jobs, chunksize=8):
            outcomes.append(outcome)
            done = len(outcomes)
            if done % 100 == 0 or done == count:
                rate = done / max(time.monotonic() - began, 1e-6)
                sys.stdout.write(f"\r  {renderer}: {done}/{count} trays ({rate:.0f}/s)")
                sys.stdout.flush()
    sys.stdout.write("\n")
    return outcomes


@dataclass(frozen=True)
class Latency:
    """``recognize`` wall time on 640x480 frames, one onnxruntime thread, decode excluded."""

    median_ms: float
    p95_ms: float
    runs: int


def measure_latency(model: Path, frames: int = 20, repeats: int = 15) -> Latency:
    """Time ``recognize`` on ``frames`` different 640x480 trays, each ``repeats`` times."""
    recognizer = TrayRecognizer(model, threads=1)
    images = [render_tray(seeds.HELD_OUT_START + i, size=(640, 480))[0] for i in range(frames)]
    for image in images[:5]:
        recognizer.recognize(image)
    times = []
    for _ in range(repeats):
        for image in images:
            start = time.perf_counter()
            recognizer.recognize(image)
            times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000.0
    return Latency(float(np.median(ms)), float(np.percentile(ms, 95)), len(times))


def machine_description() -> str:
    """CPU model, cores, memory and the versions that matter for the figures."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}, OpenCV {cv2.__version__}, NumPy {np.__version__}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="held-out trays (training renderer)")
    parser.add_argument("--seed", type=int, default=seeds.HELD_OUT_START, help="first seed")
    parser.add_argument("--alt-n", type=int, default=2000, help="drawn-differently trays")
    parser.add_argument("--alt-seed", type=int, default=seeds.ALT_START)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--report", type=Path, default=REPORT_PATH)
    parser.add_argument("--no-report", action="store_true", help="print only")
    args = parser.parse_args(argv)
    seeds.check_held_out(args.seed, args.n)

    began = time.monotonic()
    print(f"evaluating {args.model} on {args.n} held-out + {args.alt_n} drawn-differently trays")
    held_out = run_set("synth", args.seed, args.n, args.model, args.workers)
    alt = (
        run_set("synth_alt", args.alt_seed, args.alt_n, args.model, args.workers)
        if args.alt_n
        else []
    )
    print("  latency on 640x480, one thread ...")
    latency = measure_latency(args.model)
    command = "python -m models.traycolour.evaluate" + (
        "" if list(argv or sys.argv[1:]) == [] else " " + " ".join(argv or sys.argv[1:])
    )
    recognizer = TrayRecognizer(args.model)
    text = report.render(
        model_files=recognizer.model_files,
        precision=recognizer.precision,
        held_out=held_out,
        held_out_seed=args.seed,
        alt=alt,
        alt_seed=args.alt_seed,
        latency=latency,
        machine=machine_description(),
        command=command,
        minutes=(time.monotonic() - began) / 60.0,
    )
    print(report.headline(held_out, alt, latency))
    if not args.no_report:
        args.report.write_text(text)
        print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
