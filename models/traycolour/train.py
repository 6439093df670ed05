"""Training loop of the tray-colour network on the CPU."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from models.traycolour.dataset import TrayArrays, flip_batch, make_targets
from models.traycolour.decode import ATTENTION_CLAMP, membership
from models.traycolour.palette import N_SEG_CLASSES, SEG_BACKGROUND, SEG_FOOD
from models.traycolour.train_network import (
    DISH_START,
    GEOMETRY_CHANNELS,
    HEAT_CHANNELS,
    SEG_START,
    TrayNet,
)
from models.traycolour.training_loop import (
    Progress,
    bf16_supported,
    forward,
    one_cycle,
    shuffled_batches,
)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults are what ``build`` uses."""

    steps: int = 2300
    batch: int = 32
    max_lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 2
    #: Forward pass in bfloat16 (``training_loop.forward``), where the CPU has it.
    bf16: bool = field(default_factory=bf16_supported)


#: The dish-level colour decision is what the bill rests on.
DISH_WEIGHT = 2.0


def _class_weights() -> torch.Tensor:
    # Dish cells decide the bill: weigh them over the background that fills most of a frame.
    weights = torch.full((N_SEG_CLASSES,), 2.0)
    weights[SEG_BACKGROUND] = 0.5
    weights[SEG_FOOD] = 1.0
    return weights


def focal_heat_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on the centre heat map."""
    p = torch.sigmoid(logits).clamp(1e-4, 1.0 - 1e-4)
    positive = target >= 1.0
    pos_loss = -((1.0 - p) ** 2 * torch.log(p))[positive].sum()
    neg_loss = -(((1.0 - target) ** 4) * p**2 * torch.log(1.0 - p))[~positive].sum()
    return (pos_loss + neg_loss) / positive.sum().clamp(min=1)


@dataclass(frozen=True)
class Losses:
    """Loss terms of one batch."""

    heat: torch.Tensor
    geometry: torch.Tensor
    classes: torch.Tensor
    dishes: torch.Tensor

    def total(self) -> torch.Tensor:
        """The weighted sum that is minimised."""
        return self.heat + self.geometry + self.classes + self.dishes


def dish_loss(
    dish_logits: torch.Tensor, boxes: list[np.ndarray], rng: np.random.Generator
) -> torch.Tensor:
    """Cross-entropy of each true dish's pooled colour logits, pooled as ``decode`` pools.

    The boxes are jittered a little, as the predicted boxes that pool at run time will be.
    """
    masks, owners, labels = [], [], []
    for i, rows in enumerate(boxes):
        if len(rows) == 0:
            continue
        jitter = rng.normal(0.0, 1.0, (len(rows), 4)).astype(np.float32)
        cx = rows[:, 0] + 0.04 * rows[:, 2] * jitter[:, 0]
        cy = rows[:, 1] + 0.04 * rows[:, 3] * jitter[:, 1]
        w = rows[:, 2] * np.exp(0.06 * jitter[:, 2])
        h = rows[:, 3] * np.exp(0.06 * jitter[:, 3])
        masks.append(membership(cx, cy, w, h))
        owners += [i] * len(rows)
        labels.append(rows[:, 4].astype(np.int64))
    if not masks:
        return dish_logits.sum() * 0.0
    member = torch.from_numpy(np.concatenate(masks))
    owner = torch.tensor(owners)
    colour_logits, attention = dish_logits[:, :-1], dish_logits[:, -1]
    weights = member * torch.exp(attention.clamp(-ATTENTION_CLAMP, ATTENTION_CLAMP))[owner]
    pooled = torch.einsum("nhw,nchw->nc", weights, colour_logits[owner])
    pooled = pooled / (weights.sum(dim=(1, 2))[:, None] + 1e-6)
    return F.cross_entropy(pooled, torch.from_numpy(np.concatenate(labels)))


def batch_losses(
    net: TrayNet,
    images: torch.Tensor,
    classes: torch.Tensor,
    boxes: list[np.ndarray],
    *,
    class_weights: torch.Tensor,
    rng: np.random.Generator,
    bf16: bool = False,
) -> Losses:
    """Forward one batch (in bfloat16 with ``bf16``) and compute the loss terms in float32."""
    targets = make_targets(boxes)
    out = forward(net, images, bf16=bf16)
    heat_logits = out[:, :HEAT_CHANNELS]
    geometry = out[:, HEAT_CHANNELS:SEG_START]
    class_logits = out[:, SEG_START:DISH_START]
    weight = torch.from_numpy(targets.weight)
    geometry_loss = (
        F.l1_loss(geometry * weight, torch.from_numpy(targets.geometry) * weight, reduction="sum")
        / weight.sum().clamp(min=1)
        / GEOMETRY_CHANNELS
    )
    return Losses(
        heat=focal_heat_loss(heat_logits, torch.from_numpy(targets.heat)),
        geometry=geometry_loss,
        classes=F.cross_entropy(class_logits, classes.long(), weight=class_weights),
        dishes=DISH_WEIGHT * dish_loss(out[:, DISH_START:], boxes, rng),
    )


def train(arrays: TrayArrays, config: TrainConfig) -> TrayNet:
    """Train a fresh network on ``arrays``; logs one line per twentieth of the run."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    # Channels-last runs the CPU convolutions about a quarter faster here.
    net = TrayNet()
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload,unused-ignore]
    optimiser, schedule = one_cycle(
        net, max_lr=config.max_lr, weight_decay=config.weight_decay, steps=config.steps
    )
    class_weights = _class_weights()
    progress = Progress(config.steps, "first network")
    running = np.zeros(4)
    net.train()
    for step, idx in shuffled_batches(rng, len(arrays.images), config.batch, config.steps):
        images, classes, boxes = flip_batch(
            arrays.images[idx],
            arrays.classes[idx],
            [arrays.boxes[i] for i in idx],
            horizontal=bool(rng.random() < 0.5),
            vertical=bool(rng.random() < 0.5),
        )
        # Exposure jitter on top of the renderer's own: a global gain changes no label.
        gain = torch.from_numpy(rng.uniform(0.85, 1.15, (len(idx), 1, 1, 1)).astype(np.float32))
        x = (torch.from_numpy(images).float() * gain).clamp(0.0, 255.0)
        losses = batch_losses(
            net,
            x,
            torch.from_numpy(classes),
            boxes,
            class_weights=class_weights,
            rng=rng,
            bf16=config.bf16,
        )
        optimiser.zero_grad(set_to_none=True)
        torch.autograd.backward(losses.total())
        optimiser.step()
        schedule.step()
        running += [
            float(losses.heat.detach()),
            float(losses.geometry.detach()),
            float(losses.classes.detach()),
            float(losses.dishes.detach()),
        ]
        if progress.due(step):
            mean = running / progress.every
            running[:] = 0.0
            progress.write(
                step,
                f"heat {mean[0]:.3f}  geometry {mean[1]:.3f}  classes {mean[2]:.3f}  "
                f"dishes {mean[3]:.3f}  lr {schedule.get_last_lr()[0]:.2e}",
            )
    net.eval()
    return net
