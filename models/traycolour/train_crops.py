"""Training of the crop classifier (second stage) on crops of the training trays.

The samples (``crop_samples``) are cut while the training trays are rendered: two crops per
true dish, with boxes shifted and resized as the first network's are, and one "not a dish"
crop per tray.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from models.traycolour.train_crop_network import RimNet
from models.traycolour.training_loop import (
    Progress,
    bf16_supported,
    forward,
    one_cycle,
    shuffled_batches,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from models.traycolour.crop_samples import CropSamples


@dataclass(frozen=True)
class Widening:
    """A change of thread count at a set step: at ``step`` the loop calls ``wait`` (which
    returns once the cores are free) and trains on ``threads`` threads from there. At a set
    step, not whenever the cores happen to free up, so that how a run trains does not hang
    on how busy the machine was (the thread count changes the order of the sums in a step)."""

    step: int
    threads: int
    wait: Callable[[], None]


@dataclass(frozen=True)
class CropConfig:
    """Hyper-parameters; the defaults are what ``build`` uses."""

    steps: int = 8000
    batch: int = 128
    max_lr: float = 3e-3
    weight_decay: float = 1e-4
    #: None: smoothing caps the top probability below 1, and the checkout's threshold on it
    #: then has no room to tell a sure dish from a doubtful one.
    label_smoothing: float = 0.0
    seed: int = 1
    threads: int = 2
    #: Forward pass in bfloat16 (``training_loop.forward``), where the CPU has it.
    bf16: bool = field(default_factory=bf16_supported)


def augment(
    strips: np.ndarray, references: np.ndarray, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A turn (a shift along the angles), a mirror image, and an exposure and colour cast
    applied to strip and reference alike (a different light or white balance changes no
    dish's colour)."""
    x = np.roll(strips, int(rng.integers(strips.shape[2])), axis=2)
    if rng.random() < 0.5:
        x = x[:, :, ::-1]
    n = len(strips)
    gain = rng.uniform(0.8, 1.2, (n, 1)) * rng.uniform(0.92, 1.08, (n, 3))
    crop_t = torch.from_numpy(np.ascontiguousarray(x)).float()
    gain_t = torch.from_numpy(gain.astype(np.float32))
    crop_t = (crop_t * gain_t[:, None, None, :]).clamp(0.0, 255.0)
    ref_t = (torch.from_numpy(references) * gain_t).clamp(0.0, 255.0)
    return crop_t, ref_t


def train_crops(
    samples: CropSamples, config: CropConfig, widening: Widening | None = None
) -> RimNet:
    """Train a fresh crop classifier on ``samples``; logs one line per twentieth of the run.

    On ``config.threads`` threads, or with ``widening`` on that many up to its step and on
    its threads from there (``build`` gives the crop classifier a second core once the
    first network, training beside it, is done).
    """
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    net = RimNet()
    # The strips arrive N x H x W x 3, so channels-last spares the first layer a transpose.
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload,unused-ignore]
    optimiser, schedule = one_cycle(
        net, max_lr=config.max_lr, weight_decay=config.weight_decay, steps=config.steps
    )
    progress = Progress(config.steps, "crop classifier")
    running, seen, right = 0.0, 0, 0
    net.train()
    for step, idx in shuffled_batches(rng, len(samples.labels), config.batch, config.steps):
        if widening is not None and step == widening.step:
            waited = time.monotonic()
            widening.wait()
            torch.set_num_threads(widening.threads)
            sys.stdout.write(
                f"  crop classifier: step {step}, on {widening.threads} threads from here "
                f"(waited {time.monotonic() - waited:.0f} s for them)\n"
            )
            sys.stdout.flush()
        crops, references = augment(samples.crops[idx], samples.references[idx], rng)
        labels = torch.from_numpy(samples.labels[idx])
        logits = forward(net, crops, references, bf16=config.bf16)
        loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
        optimiser.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimiser.step()
        schedule.step()
        running += float(loss.detach())
        seen += len(idx)
        right += int((logits.argmax(1) == labels).sum())
        if progress.due(step):
            progress.write(
                step,
                f"loss {running / progress.every:.4f}  accuracy {right / seen:.4f}  "
                f"lr {schedule.get_last_lr()[0]:.2e}",
            )
            running, seen, right = 0.0, 0, 0
    net.eval()
    return net
