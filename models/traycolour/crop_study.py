"""The crop classifier studied on its own: how often its top label is right, and how many
dishes it can answer at a given rate of wrong answers.

    python -m models.traycolour.crop_study CROPS.onnx [MORE.onnx ...] [--n 1000]

Several models are studied each alone, then as an ensemble (the mean of their
log-probabilities), on the same crops.

The inputs are the rim strips the run time cuts: the committed first network finds the dishes of
``--n`` validation trays (training renderer, seeds from 1,050,000, which the threshold
calibration does not use) and ``--n`` drawn-differently trays (seeds from 5,000,000, away
from the evaluation's), and each peak at or above its ``detect`` threshold is cut and
matched to the truth as the evaluation matches (``metrics.match_items``); only peaks matched to
a dish are studied.

The answer to "how many dishes at a given rate of wrong answers" is the checkout's own
question: a dish is answered with its top colour when the score is at or above a threshold
and `unknown` otherwise; the threshold is swept and, for each budget of wrong answers (a
colour that is not the truth, as a share of all dishes), the largest share of right answers
is reported. Each figure rests on few dishes at the smallest budgets (0.1 % of 3,500 dishes
is 3 or 4): compare models on the same trays, in one run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from models.traycolour.crop_samples import NOT_A_DISH
from models.traycolour.dataset import map_rendering
from models.traycolour.metrics import Prediction, match_items
from models.traycolour.palette import LABELS, UNKNOWN
from models.traycolour.preprocess import letterbox
from models.traycolour.runtime import (
    DEFAULT_MODEL_PATH,
    TrayRecognizer,
    classify_batches,
    crop_session,
)
from models.traycolour.synth import render_tray
from models.traycolour.synth_alt import render_alt_tray

if TYPE_CHECKING:
    from collections.abc import Sequence

#: First seeds of the two sets; validation seeds the calibration (its first 2,000) never uses.
SYNTH_START: Final = 1_050_000
ALT_START: Final = 5_000_000
#: Budgets of wrong answers, as a share of all dishes.
BUDGETS: Final = (0.0005, 0.001, 0.002, 0.004)
_UNKNOWN: Final = LABELS.index(UNKNOWN)


@dataclass(frozen=True)
class StudyCrops:
    """Run-time rim strips of one set of trays, with the truth of each (``NOT_A_DISH`` when
    the peak matched no dish)."""

    crops: np.ndarray  # N x STRIP_ROWS x STRIP_ANGLES x 3 uint8
    references: np.ndarray  # N x 3 float32
    labels: np.ndarray  # N int64


_FIRST: dict[str, TrayRecognizer] = {}


def _tray_crops(job: tuple[str, int, str]) -> StudyCrops:
    renderer, seed, model = job
    recognizer = _FIRST.get(model)
    if recognizer is None:
        recognizer = _FIRST[model] = TrayRecognizer(Path(model))
    frame, label = (render_tray if renderer == "synth" else render_alt_tray)(seed)
    found = recognizer.candidates(frame, floor=recognizer.thresholds.detect)
    peaks, box = found.peaks, found.box
    canvas, _ = letterbox(frame)
    crops, references = recognizer.cut_crops(frame, canvas, found.outputs, box, peaks)
    centres = [
        Prediction(UNKNOWN, box.to_frame(float(peaks.cx[k]), float(peaks.cy[k])))
        for k in range(len(peaks))
    ]
    labels = np.full(len(peaks), NOT_A_DISH, np.int64)
    for i, j in match_items(label.items, centres):
        labels[j] = LABELS.index(label.items[i].colour)
    return StudyCrops(crops, references.astype(np.float32), labels)


def collect(renderer: str, seeds: Sequence[int], model: Path, workers: int = 2) -> StudyCrops:
    """The run-time rim strips of ``seeds`` drawn by ``renderer`` ("synth" or "alt")."""
    jobs = [(renderer, int(s), str(model)) for s in seeds]
    parts = map_rendering(_tray_crops, jobs, workers)
    return StudyCrops(
        np.concatenate([p.crops for p in parts]),
        np.concatenate([p.references for p in parts]),
        np.concatenate([p.labels for p in parts]),
    )


def colour_log_probs(
    models: Sequence[Path], crops: np.ndarray, references: np.ndarray
) -> np.ndarray:
    """N x len(LABELS): log-probabilities over the dish labels (renormalised without "not a
    dish", as the run time fuses them), averaged over ``models``."""
    total = np.zeros((len(crops), len(LABELS)), np.float64)
    for path in models:
        probs = classify_batches(crop_session(path), crops, references)[:, :NOT_A_DISH]
        probs = probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-9)
        total += np.log(probs + 1e-6)
    return total / max(len(models), 1)


@dataclass(frozen=True)
class Selective:
    """Top label right, and the share of dishes answered right within each wrong budget."""

    dishes: int
    top_right: float
    right_within: dict[float, float]


def selective(
    log_probs: np.ndarray, truth: np.ndarray, budgets: Sequence[float] = BUDGETS
) -> Selective:
    """Sweep the confidence threshold (the top label's probability) over dishes whose truth
    is ``truth`` (label indices; unknown dishes included: `unknown` is right for them)."""
    n = len(truth)
    if n == 0:
        return Selective(0, float("nan"), {b: float("nan") for b in budgets})
    probs = np.exp(log_probs - log_probs.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    top = probs.argmax(axis=1)
    order = np.argsort(-probs.max(axis=1), kind="stable")
    answers = top[order] != _UNKNOWN  # answered with a colour once the threshold reaches it
    right = top[order] == truth[order]
    # Answering dish k (in order) adds a right or a wrong colour, and loses the right
    # `unknown` it would otherwise get when its truth is unknown.
    right_colours = np.cumsum(answers & right)
    wrong_colours = np.cumsum(answers & ~right)
    lost_unknown = np.cumsum(answers & (truth[order] == _UNKNOWN))
    unknown_truth = int((truth == _UNKNOWN).sum())
    right_if_cut = right_colours + unknown_truth - lost_unknown  # answering dishes 0..k
    within = {}
    for budget in budgets:
        allowed = right_if_cut[wrong_colours <= budget * n]
        # Answering no dish at all (a threshold above every score) is always allowed.
        within[budget] = max(unknown_truth, int(allowed.max()) if len(allowed) else 0) / n
    return Selective(n, float(np.mean(top == truth)), within)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the study of one crop model, or of an ensemble of several."""
    parser = argparse.ArgumentParser(
        prog="python -m models.traycolour.crop_study",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("crop_models", type=Path, nargs="+", metavar="CROPS.onnx")
    parser.add_argument("--n", type=int, default=1000, help="trays per set (default 1000)")
    parser.add_argument(
        "--first", type=Path, default=DEFAULT_MODEL_PATH, help="first network that finds dishes"
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    for path in (args.first, *args.crop_models):
        if not path.is_file():
            parser.error(f"{path}: no such model file")
    header = " / ".join(f"{100 * b:g} %" for b in BUDGETS)
    studied: list[tuple[str, list[Path]]] = [(str(p), [p]) for p in args.crop_models]
    if len(args.crop_models) > 1:
        studied.append(("ensemble of all", list(args.crop_models)))
    for renderer, start in (("synth", SYNTH_START), ("alt", ALT_START)):
        found = collect(renderer, range(start, start + args.n), args.first, args.workers)
        dish = found.labels != NOT_A_DISH
        sys.stdout.write(
            f"{renderer} (seeds {start}..{start + args.n - 1}), {int(dish.sum())} dishes: "
            f"top label right; right within wrong {header}\n"
        )
        for name, models in studied:
            log_probs = colour_log_probs(models, found.crops[dish], found.references[dish])
            s = selective(log_probs, found.labels[dish])
            within = " / ".join(f"{100 * s.right_within[b]:.2f}" for b in BUDGETS)
            sys.stdout.write(f"  {name}: {100 * s.top_right:.2f} %; {within} %\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
