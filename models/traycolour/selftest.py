"""The model pair checks itself on the CPU it runs on before it bills anything.

onnxruntime picks its kernels by what the CPU offers, and an 8-bit kernel once computed
wrong sums on a CPU without VNNI (the model card); OpenCV's plain bilinear interpolation
rounded differently on ARM64 (``preprocess.shrink``). Both were found by running the pair as
on other CPUs (``portability.py``), but a box may have a CPU nobody emulated. So beside the
pair lies ``traycolour.selftest.npz``: a few held-out trays as JPEG files, with what this
pair made of them where it was built (the heat map, the crop classifier's probabilities and
the fused colour of every candidate). ``TrayRecognizer`` runs them when it loads. If any
figure is off by more than rounding can explain, the recogniser still answers, but every
tray needs staff, with the reason ``SELF_TEST_FAILED``: a box whose CPU computes the networks
wrongly must not bill.

Rounding alone moved the first network's outputs by at most 1.4e-5 and the crop classifier's
probabilities by at most 0.01 between this machine and four emulated CPUs (``portability.py``:
100 trays on each, 400 more on the Raspberry Pi 4); the broken interpolation moved them by
0.61 and 1.

    python -m models.traycolour.selftest            # run the committed pair's self-test
    python -m models.traycolour.selftest --write    # write it anew for the pair
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import cv2
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from models.traycolour.runtime import TrayRecognizer

#: Held-out seeds of the self-test's trays (the evaluation starts at 2,000,000 and the tests
#: at 2,500,000).
FIRST_SEED: Final = 2_600_000
#: Their frame sizes, one for each way the letterbox shrinks a frame: by a factor of 2 and
#: then interpolated, by 3 and then interpolated, by area averaging alone.
SIZES: Final = ((640, 480), (960, 540), (320, 240))
TRAYS: Final = len(SIZES)
#: Dishes on each, so that the crop classifier is run on a dozen candidates or more.
MIN_DISHES: Final = 4
JPEG_QUALITY: Final = 80
#: Largest differences that rounding explains (about 70 and 5 times what was seen).
HEAT_TOLERANCE: Final = 1e-3
PROBABILITY_TOLERANCE: Final = 0.05
#: The staff reason every tray gets when the self-test failed.
SELF_TEST_FAILED: Final = "the model failed its self-test on this CPU"

State = Literal["passed", "failed", "not run"]


@dataclass(frozen=True)
class SelfTest:
    """How the self-test went, and what it found or why it did not run."""

    state: State
    detail: str

    @property
    def failed(self) -> bool:
        return self.state == "failed"


def selftest_path(model: Path) -> Path:
    """The self-test file of the pair whose first file is ``model``."""
    return model.with_name(model.stem + ".selftest.npz")


def _figures(recognizer: TrayRecognizer, frame: np.ndarray) -> dict[str, np.ndarray]:
    found = recognizer.candidates(frame)
    t = recognizer.thresholds
    evidence = found.evidence(detect=t.detect, head_weight=t.head_weight)
    crop = found.crop if found.crop is not None else np.zeros((len(found.peaks), 0))
    return {
        "heat": found.outputs.heat.astype(np.float32),
        "crop": crop.astype(np.float32),
        "colour": evidence.colour.astype(np.float32),
    }


def _decode(jpeg: np.ndarray) -> np.ndarray:
    frame = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    if frame is None:
        msg = "a self-test frame does not decode"
        raise ValueError(msg)
    return np.asarray(frame)


def write(model: Path, frames: Sequence[np.ndarray] | None = None) -> Path:
    """Write the self-test of the pair at ``model`` (default frames: held-out trays of the
    training renderer, one of each of ``SIZES`` with ``MIN_DISHES`` or more) and return its
    path."""
    from models.traycolour.runtime import TrayRecognizer  # noqa: PLC0415 (circular)

    if frames is None:
        from models.traycolour.synth import render_tray  # noqa: PLC0415 (build time only)

        frames = []
        seed = FIRST_SEED
        for size in SIZES:  # the first trays from FIRST_SEED on with MIN_DISHES or more
            while len((drawn := render_tray(seed, size=size))[1].items) < MIN_DISHES:
                seed += 1
            frames.append(drawn[0])
            seed += 1
    recognizer = TrayRecognizer(model, threads=1)
    arrays: dict[str, np.ndarray] = {"model_version": np.array(recognizer.model_version)}
    for i, frame in enumerate(frames):
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            msg = "OpenCV could not encode a self-test frame"
            raise RuntimeError(msg)
        arrays[f"jpeg{i}"] = np.asarray(jpeg, np.uint8).ravel()
        for key, value in _figures(recognizer, _decode(arrays[f"jpeg{i}"])).items():
            arrays[f"{key}{i}"] = value
    path = selftest_path(model)
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    return path


def run(recognizer: TrayRecognizer) -> SelfTest:
    """Run the self-test of ``recognizer``'s pair on this CPU."""
    path = selftest_path(recognizer.model_files[0])
    if not path.exists():
        return SelfTest("not run", f"no self-test beside the model ({path.name})")
    try:
        with np.load(path) as z:
            stored = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        return SelfTest("failed", f"{path.name} cannot be read: {e}")
    version = str(stored.pop("model_version", ""))
    if version != recognizer.model_version:
        return SelfTest(
            "not run", f"{path.name} is for model {version}, not {recognizer.model_version}"
        )
    trays = sorted(int(k[4:]) for k in stored if k.startswith("jpeg"))
    if not trays:
        return SelfTest("failed", f"{path.name} holds no trays")
    return _compare(recognizer, stored, trays)


def _compare(
    recognizer: TrayRecognizer, stored: dict[str, np.ndarray], trays: list[int]
) -> SelfTest:
    worst = {"heat": 0.0, "crop": 0.0, "colour": 0.0}
    for i in trays:
        try:
            now = _figures(recognizer, _decode(stored[f"jpeg{i}"]))
        except ValueError as e:
            return SelfTest("failed", f"tray {i}: {e}")
        if now["crop"].shape != stored[f"crop{i}"].shape:
            return SelfTest(
                "failed",
                f"tray {i}: {len(now['crop'])} candidates where the build found "
                f"{len(stored[f'crop{i}'])}",
            )
        for key, largest in worst.items():
            difference = np.abs(now[key] - stored[f"{key}{i}"])
            worst[key] = max(largest, float(difference.max(initial=0.0)))
    figures = (
        f"{len(trays)} trays; heat map within {worst['heat']:.2g}, crop classifier "
        f"within {worst['crop']:.2g}, fused colour within {worst['colour']:.2g}"
    )
    if (
        worst["heat"] > HEAT_TOLERANCE
        or worst["crop"] > PROBABILITY_TOLERANCE
        or worst["colour"] > PROBABILITY_TOLERANCE
    ):
        return SelfTest(
            "failed",
            f"{figures}; more than rounding explains ({HEAT_TOLERANCE:g} for the heat map, "
            f"{PROBABILITY_TOLERANCE:g} for probabilities)",
        )
    return SelfTest("passed", figures)


def _parser() -> argparse.ArgumentParser:
    from models.traycolour.runtime import DEFAULT_MODEL_PATH  # noqa: PLC0415 (circular)

    parser = argparse.ArgumentParser(
        prog="python -m models.traycolour.selftest",
        description="Run the model pair's self-test on this CPU (exit code 0: passed, 1: "
        "failed, 2: not run), or with --write make it anew for the pair.",
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_PATH, help="the first model file of the pair"
    )
    parser.add_argument(
        "--write", action="store_true", help=f"write {TRAYS} held-out trays and their figures"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from models.traycolour.runtime import TrayRecognizer  # noqa: PLC0415 (circular)

    args = _parser().parse_args(argv)
    if args.write:
        path = write(args.model)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    result = TrayRecognizer(args.model).self_test
    print(f"self-test {result.state}: {result.detail}")
    return {"passed": 0, "failed": 1, "not run": 2}[result.state]


if __name__ == "__main__":
    sys.exit(main())
