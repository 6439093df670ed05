"""Does the model pair give the same answers on the CPUs a checkout box may have?

The pair was built and measured on an x86-64 CPU with AVX-512 and VNNI. onnxruntime picks its
kernels by what the CPU offers, and an 8-bit kernel without VNNI once gave wrong answers (the
model card: the uint8 x int8 kernel saturates on a Zen 3), so a box with another CPU must be
checked, not assumed. This runs the same rendered trays through the pair here and, under QEMU's
user-mode emulation, as on each of these CPUs (``TARGETS``):

- x86-64 with AVX2 but no VNNI (AMD EPYC Zen 3), and with SSE4.2 only (Intel Nehalem);
- ARM64 Cortex-A72 (Raspberry Pi 4, no dot-product instructions) and Cortex-A76 (Raspberry
  Pi 5, with them), in an ARM64 Debian root that holds only Python, onnxruntime, OpenCV and
  NumPy (``scripts/arm64-root.sh``): the run-time path needs nothing else.

It compares the networks' outputs and the answers (colours, needs_staff and its reasons) tray
by tray, and says how the pair's self-test (``selftest.py``) went on each CPU. Emulation runs
each instruction as the emulated CPU defines it, so the answers are that CPU's; its times are
not, and none are reported. Exit code 0: every answer the same; 1: some differ; 2: something
needed is missing (QEMU, the ARM64 root) or an emulated run failed.

    python -m models.traycolour.portability                  # all four, 40 trays
    python -m models.traycolour.portability --target pi4 --trays 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from models.traycolour import seeds
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO: Final = Path(__file__).resolve().parents[2]
#: Where ``scripts/arm64-root.sh`` puts the ARM64 root by default.
DEFAULT_ARM_ROOT: Final = REPO / "var" / "arm64-root"
#: The ARM64 root's Python and the folder its three packages are installed in.
ARM_PYTHON: Final = "usr/bin/python3.11"
ARM_SITE: Final = "site"


@dataclass(frozen=True)
class Target:
    """A CPU to emulate: QEMU's architecture and CPU model, and for ARM64 what the Linux
    kernel would show in /proc/cpuinfo (onnxruntime reads the core's part number there; QEMU
    7.2 passes the host's through, which onnxruntime cannot parse on ARM64)."""

    description: str
    arch: str  # "x86_64" or "aarch64"
    cpu: str  # QEMU's -cpu
    part: str = ""  # ARM64: the "CPU part" of /proc/cpuinfo
    features: str = ""  # ARM64: the "Features" of /proc/cpuinfo

    def cpuinfo(self, cores: int = 2) -> str:
        """The /proc/cpuinfo an ARM64 Linux kernel shows on this CPU."""
        rows = []
        for core in range(cores):
            rows += [
                f"processor\t: {core}",
                "BogoMIPS\t: 108.00",
                f"Features\t: {self.features}",
                "CPU implementer\t: 0x41",
                "CPU architecture: 8",
                "CPU variant\t: 0x0",
                f"CPU part\t: {self.part}",
                "CPU revision\t: 1",
                "",
            ]
        return "\n".join(rows) + "\n"


TARGETS: Final[dict[str, Target]] = {
    "zen3": Target("x86-64, AVX2 without VNNI (AMD EPYC Zen 3)", "x86_64", "EPYC-Milan"),
    "nehalem": Target("x86-64, SSE4.2 only (Intel Nehalem)", "x86_64", "Nehalem"),
    "pi4": Target(
        "ARM64 Cortex-A72, no dot product (Raspberry Pi 4)",
        "aarch64",
        "cortex-a72",
        part="0xd08",
        features="fp asimd evtstrm crc32 cpuid",
    ),
    "pi5": Target(
        "ARM64 Cortex-A76, dot product (Raspberry Pi 5)",
        "aarch64",
        "cortex-a76",
        part="0xd0b",
        features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
        "asimdrdm lrcpc dcpop asimddp",
    ),
}


class MissingToolError(RuntimeError):
    """QEMU or the ARM64 root is not there; the message says how to get it."""


@dataclass(frozen=True)
class Answers:
    """What one CPU made of the trays: the first network's maps (N x C x GH x GW), the crop
    classifier's probabilities of all trays' candidates one after the other, how many each tray
    had, each tray's answer as JSON (colours in reading order, needs_staff, reasons), and how
    the pair's self-test went on that CPU (``selftest.py``)."""

    maps: np.ndarray
    crop: np.ndarray
    crop_counts: np.ndarray
    answers: tuple[str, ...]
    self_test: str = ""

    def save(self, path: Path) -> None:
        np.savez(
            path,
            maps=self.maps,
            crop=self.crop,
            crop_counts=self.crop_counts,
            answers=np.array(self.answers),
            self_test=np.array(self.self_test),
        )

    @classmethod
    def load(cls, path: Path) -> Answers:
        with np.load(path) as z:
            answers = tuple(str(a) for a in z["answers"])
            return cls(z["maps"], z["crop"], z["crop_counts"], answers, str(z["self_test"]))

    def crops_of(self, tray: int) -> np.ndarray:
        start = int(self.crop_counts[:tray].sum())
        return self.crop[start : start + int(self.crop_counts[tray])]


def answer_of(recognizer: TrayRecognizer, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """One tray on this CPU: the stacked maps, the candidates' crop probabilities, the answer."""
    found = recognizer.candidates(frame)
    o = found.outputs
    maps = np.concatenate([o.heat[None], o.geometry, o.classes, o.dish_logits]).astype(np.float32)
    crop = found.crop if found.crop is not None else np.zeros((0, 0), np.float32)
    # recognize() would run both networks again: the answer from these candidates is the same.
    r = recognizer.recognition(recognizer.judge_candidates(found), found.box)
    answer = json.dumps(
        {"colours": [i.colour for i in r.items], "needs_staff": r.needs_staff, "reasons": r.reasons}
    )
    return maps, crop.astype(np.float32), answer


def run(model: Path, frames: Sequence[np.ndarray], progress: bool = False) -> Answers:
    """Run ``frames`` through the pair at ``model`` on this CPU, one thread."""
    recognizer = TrayRecognizer(model, threads=1)
    maps, crops, answers = [], [], []
    for n, frame in enumerate(frames, 1):
        m, c, a = answer_of(recognizer, frame)
        maps.append(m)
        crops.append(c)
        answers.append(a)
        if progress and (n % 10 == 0 or n == len(frames)):
            print(f"{n}/{len(frames)} trays", flush=True)
    width = crops[0].shape[1] if crops else 0
    return Answers(
        np.stack(maps),
        np.concatenate([c.reshape(-1, width) for c in crops]) if crops else np.zeros((0, 0)),
        np.array([len(c) for c in crops], np.int64),
        tuple(answers),
        f"{recognizer.self_test.state} ({recognizer.self_test.detail})",
    )


def render(first_seed: int, count: int) -> list[np.ndarray]:
    """The trays to compare on: the training renderer's, from held-out seeds."""
    from models.traycolour.synth import render_tray  # noqa: PLC0415 (not needed by a worker)

    seeds.check_held_out(first_seed, count)
    return [render_tray(s)[0] for s in range(first_seed, first_seed + count)]


def save_frames(frames: Sequence[np.ndarray], path: Path) -> None:
    np.savez(path, *frames)


def load_frames(path: Path) -> list[np.ndarray]:
    with np.load(path) as z:
        return [z[f"arr_{i}"] for i in range(len(z.files))]


def command(target: Target, arm_root: Path, cpuinfo: Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run Python as on ``target``; the worker's arguments
    go after it. Raise ``MissingToolError`` when QEMU or the ARM64 root is missing."""
    qemu = shutil.which(f"qemu-{target.arch}")
    if qemu is None:
        msg = f"qemu-{target.arch} not found: install Debian's qemu-user (make check-cpus does)"
        raise MissingToolError(msg)
    env = dict(os.environ)
    if target.arch == "x86_64":
        return [qemu, "-cpu", target.cpu, sys.executable], env
    python = arm_root / ARM_PYTHON
    if not python.exists() or not (arm_root / ARM_SITE).is_dir():
        msg = (
            f"no ARM64 root at {arm_root}: make it with `scripts/arm64-root.sh {arm_root}` "
            "(make check-cpus does)"
        )
        raise MissingToolError(msg)
    unshare = shutil.which("unshare")
    if unshare is None:
        msg = "unshare not found: install Debian's util-linux"
        raise MissingToolError(msg)
    cpuinfo.write_text(target.cpuinfo())
    env["PYTHONPATH"] = f"{arm_root / ARM_SITE}{os.pathsep}{REPO}"
    env.pop("PYTHONHOME", None)
    # A mount namespace of its own, so that the emulated process reads this CPU's
    # /proc/cpuinfo and nothing else on the machine sees it.
    bind = 'mount --bind "$0" /proc/cpuinfo && exec "$@"'
    return [
        unshare,
        "--mount",
        "--",
        "sh",
        "-c",
        bind,
        str(cpuinfo),
        qemu,
        "-cpu",
        target.cpu,
        "-L",
        str(arm_root),
        str(python),
    ], env


def emulate(
    target: Target, model: Path, frames_file: Path, arm_root: Path, work: Path
) -> tuple[Answers, float]:
    """Run the worker as on ``target``; its answers and the wall time it took."""
    prefix, env = command(target, arm_root, work / f"cpuinfo-{target.cpu}")
    out = work / f"answers-{target.cpu}.npz"
    worker = ["-m", "models.traycolour.portability", "--worker", str(frames_file), str(out)]
    began = time.monotonic()
    with subprocess.Popen(
        [*prefix, *worker, "--model", str(model)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        for line in proc.stdout:
            print(f"  {target.cpu}: {line.rstrip()}", flush=True)
        stderr = proc.stderr.read()
    if proc.returncode != 0 or not out.exists():
        # QEMU's warnings about CPU features TCG lacks are noise; the rest is the failure.
        lines = [ln for ln in stderr.splitlines() if "TCG doesn't support" not in ln]
        msg = f"the run as on {target.cpu} failed (exit code {proc.returncode}):\n" + "\n".join(
            lines[-20:]
        )
        raise RuntimeError(msg)
    return Answers.load(out), time.monotonic() - began


@dataclass(frozen=True)
class Comparison:
    """How a CPU's answers compare with this machine's."""

    trays: int
    same_answers: int
    differing: tuple[tuple[int, str, str], ...]  # tray index, here, there
    max_map_difference: float
    max_crop_difference: float  # over trays with the same candidates
    same_candidates: int
    self_test: str  # how the pair's self-test went there

    @property
    def all_same(self) -> bool:
        return self.same_answers == self.trays


def compare(here: Answers, there: Answers) -> Comparison:
    """Tray by tray, ``there`` against ``here``."""
    pairs = enumerate(zip(here.answers, there.answers, strict=True))
    differing = tuple((i, a, b) for i, (a, b) in pairs if a != b)
    crop_diff, same = 0.0, 0
    for i in range(len(here.answers)):
        a, b = here.crops_of(i), there.crops_of(i)
        if a.shape == b.shape:
            same += 1
            if a.size:
                crop_diff = max(crop_diff, float(np.abs(a - b).max()))
    return Comparison(
        trays=len(here.answers),
        same_answers=len(here.answers) - len(differing),
        differing=differing,
        max_map_difference=float(np.abs(here.maps - there.maps).max()),
        max_crop_difference=crop_diff,
        same_candidates=same,
        self_test=there.self_test,
    )


def check(
    targets: Sequence[str],
    model: Path,
    frames: Sequence[np.ndarray],
    arm_root: Path = DEFAULT_ARM_ROOT,
) -> Iterator[tuple[str, Comparison, float]]:
    """Each target's comparison with this machine, and the emulated run's wall time."""
    here = run(model, frames)
    with tempfile.TemporaryDirectory(prefix="traycolour-cpus-") as tmp:
        work = Path(tmp)
        frames_file = work / "frames.npz"
        save_frames(frames, frames_file)
        for key in targets:
            there, seconds = emulate(TARGETS[key], model, frames_file, arm_root, work)
            yield key, compare(here, there), seconds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.traycolour.portability",
        description="Run rendered trays through the model pair here and, under QEMU, as on "
        "other CPUs a checkout box may have; compare the answers tray by tray. Exit code 0: "
        "all the same; 1: some differ; 2: QEMU or the ARM64 root is missing, or a run failed.",
    )
    parser.add_argument(
        "--target",
        nargs="+",
        choices=sorted(TARGETS),
        default=list(TARGETS),
        help="CPUs to emulate: "
        + "; ".join(f"{k}: {t.description}" for k, t in TARGETS.items())
        + " (default: all)",
    )
    parser.add_argument("--trays", type=int, default=40, help="trays to compare (default 40)")
    parser.add_argument(
        "--seed",
        type=int,
        default=seeds.HELD_OUT_START,
        help=f"first held-out seed (default {seeds.HELD_OUT_START})",
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_PATH, help="the first model file of the pair"
    )
    parser.add_argument(
        "--arm-root",
        type=Path,
        default=DEFAULT_ARM_ROOT,
        help=f"the ARM64 root of scripts/arm64-root.sh (default {DEFAULT_ARM_ROOT})",
    )
    parser.add_argument(
        "--worker", nargs=2, type=Path, metavar=("FRAMES", "OUT"), help=argparse.SUPPRESS
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        frames_file, out = args.worker
        run(args.model, load_frames(frames_file), progress=True).save(out)
        return 0
    if args.trays < 1:
        print("--trays must be at least 1", file=sys.stderr)
        return 2
    try:
        frames = render(args.seed, args.trays)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    print(
        f"{args.trays} trays (seeds {args.seed}..{args.seed + args.trays - 1}), "
        f"{args.model.name}, here and as on: {', '.join(args.target)}",
        flush=True,
    )
    worst = 0
    try:
        for key, c, seconds in check(args.target, args.model, frames, args.arm_root):
            verdict = "the same answers" if c.all_same else "ANSWERS DIFFER"
            print(
                f"{key} ({TARGETS[key].description}): {verdict} on {c.same_answers}/{c.trays} "
                f"trays; first network's outputs within {c.max_map_difference:.2g}, crop "
                f"classifier's probabilities within {c.max_crop_difference:.2g} "
                f"({c.same_candidates} trays with the same candidates); "
                f"self-test {c.self_test}; {seconds:.0f} s emulated",
                flush=True,
            )
            for i, a, b in c.differing:
                print(f"  tray {args.seed + i}: here {a}\n  {'':>{len(str(i)) + 6}}there {b}")
            worst = max(worst, 0 if c.all_same else 1)
    except (MissingToolError, RuntimeError) as e:  # a tool missing, or a run that failed
        print(e, file=sys.stderr)
        return 2
    return worst


if __name__ == "__main__":
    raise SystemExit(main())
