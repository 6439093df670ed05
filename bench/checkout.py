"""Checkout recogniser benchmark: ``python -m bench.checkout`` (``make bench-checkout``).

Measures ``TrayRecognizer.recognize`` on 640x480 frames with one onnxruntime thread (image
decoding excluded: frames are already in memory), where its time goes (letterbox, first
network, second stage, decision: medians of the nested calls, taken in turn on the same
frames), the model files' size, and the resident memory of a fresh process that has loaded
the model and recognised one frame. Prints a Markdown block with the figures and the
command. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.traycolour.preprocess import letterbox
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer
from models.traycolour.synth import render_tray

if TYPE_CHECKING:
    from collections.abc import Callable

COMMAND = "python -m bench.checkout"

# Run in a fresh interpreter so that the figure is the run time's alone, not this script's.
_RSS_PROBE = """
import sys
from pathlib import Path
import numpy as np
from models.traycolour.runtime import TrayRecognizer

def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1

before = rss_kib()
recognizer = TrayRecognizer(Path(sys.argv[1]), threads=1)
recognizer.recognize(np.full((480, 640, 3), 128, np.uint8))
print(before, rss_kib())
"""


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> int:
    """Run the benchmark and print the Markdown block."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--frames", type=int, default=20, help="distinct 640x480 trays")
    parser.add_argument("--runs", type=int, default=500, help="timed recognize calls")
    args = parser.parse_args()

    frames = [render_tray(7_000_000 + i, size=(640, 480))[0] for i in range(args.frames)]
    recognizer = TrayRecognizer(args.model, threads=1)
    for frame in frames:  # warm-up: first runs allocate and tune
        recognizer.recognize(frame)
    # Each call in turn on the same frame, so that the stages' medians come from the same
    # minutes; the stages are the differences of the nested calls' medians.
    calls: dict[str, Callable[[np.ndarray], object]] = {
        "letterbox": letterbox,
        "first": recognizer.infer,
        "candidates": recognizer.candidates,
        "recognize": recognizer.recognize,
    }
    times = {name: np.empty(args.runs) for name in calls}
    for i in range(args.runs):
        frame = frames[i % len(frames)]
        for name, call in calls.items():
            start = time.perf_counter()
            call(frame)
            times[name][i] = time.perf_counter() - start
    ms = times["recognize"] * 1000.0
    median = {name: float(np.median(t)) * 1000.0 for name, t in times.items()}

    probe = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(args.model)],
        capture_output=True,
        text=True,
        check=True,
    )
    before_kib, after_kib = (int(v) for v in probe.stdout.split())
    size_mb = sum(path.stat().st_size for path in recognizer.model_files) / 1e6

    print("### Checkout recogniser benchmark")
    print()
    command = " ".join([COMMAND, *sys.argv[1:]])
    print(f"Command: `{command}` ({args.runs} calls over {args.frames} synthetic 640x480 trays)")
    print(f"Machine: {_cpu()}, Python {platform.python_version()}")
    names = " + ".join(
        f"`{path.name}` ({arithmetic})"
        for path, arithmetic in zip(recognizer.model_files, recognizer.precision, strict=True)
    )
    print(f"Model: {names}, {recognizer.model_version}")
    print()
    print("| figure | value |")
    print("|---|---:|")
    print(f"| recognize median, 640x480, 1 thread | {np.median(ms):.2f} ms |")
    print(f"| recognize p95, 640x480, 1 thread | {np.percentile(ms, 95):.2f} ms |")
    print(f"| recognize max | {ms.max():.2f} ms |")
    print(f"| of the median: letterbox | {median['letterbox']:.2f} ms |")
    print(f"| of the median: first network | {median['first'] - median['letterbox']:.2f} ms |")
    print(
        "| of the median: peaks, rim strips and crop classifier | "
        f"{median['candidates'] - median['first']:.2f} ms |"
    )
    print(f"| of the median: decision | {median['recognize'] - median['candidates']:.2f} ms |")
    print(f"| model files together | {size_mb:.2f} MB |")
    print(f"| RSS of a process with the model loaded | {after_kib / 1024:.1f} MiB |")
    print(
        f"| of which before loading (Python, NumPy, OpenCV, onnxruntime) | "
        f"{before_kib / 1024:.1f} MiB |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
