"""The crop classifier, the second stage (PyTorch; training and export only).

It looks at one candidate dish at a time, unrolled around its centre from the full-resolution
frame (``crops.rim_strip``), and tells its kind (``crop_samples.KINDS``: a colour, pink,
brown, grey, cyan, patterned, half-and-half) or "not a dish". It exists because the first
network sees the frame at 256x192: a small bowl's rim there is a pixel or two wide and mixed
with the food and the tray around it, while the frame the camera delivers holds several times
more.

Why unrolled: the rim, which decides the colour, is a ring; unrolled it is a band across the
strip at the same rows all the way round, with the food above it and the tray below. The
convolutions wrap around in angle, and the features are pooled over all angles at the end, so
a dish turned on the tray is the same input shifted, and the same answer by construction (the
earlier square crop had to learn that from quarter turns and flips). What stays is how the
dish looks from its middle outwards: food, rim, lip, tray.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn

from models.traycolour.crop_samples import KIND_CLASSES, KIND_TO_LABEL
from models.traycolour.crops import STRIP_ROWS, strip_radii


class _Wrap(nn.Module):  # type: ignore[misc,unused-ignore]
    """One column of padding that wraps around in angle (the last axis), and one row that
    repeats the edge in radius: the strip is a ring, not a rectangle."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[..., -1:], x, x[..., :1]], dim=3)
        return F.pad(x, (0, 0, 1, 1), mode="replicate")


def _ring_cbr(c_in: int, c_out: int, stride: tuple[int, int] = (1, 1)) -> nn.Sequential:
    return nn.Sequential(
        _Wrap(),
        nn.Conv2d(c_in, c_out, 3, stride, 0, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class RimNet(nn.Module):  # type: ignore[misc,unused-ignore]
    """A rim strip (uint8 N x STRIP_ROWS x STRIP_ANGLES x 3 BGR) and its frame's tray reference
    (float N x 3 BGR, 0..255) to logits over ``KIND_CLASSES``.

    Colour constancy is given, not left to be found: besides the strip itself the first layer
    sees its log ratio to the tray reference per channel (a von Kries normalisation: under
    3000 K light a white plate is as orange as the tray around it, a yellow one much more so),
    and each row's radius. After the convolutions every row's features are averaged and maxed
    over the angles: the mean is the rim's colour, the max what shows anywhere on it (a band of
    another colour, one half of a half-and-half dish).
    """

    def __init__(self, widths: tuple[int, int, int, int, int] = (16, 32, 48, 64, 96)) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            _ring_cbr(7, c1),
            _ring_cbr(c1, c2, (1, 2)),
            _ring_cbr(c2, c3, (2, 2)),
            _ring_cbr(c3, c4),
            _ring_cbr(c4, c5, (2, 2)),
            _ring_cbr(c5, c5),
        )
        rows_out = (STRIP_ROWS + 3) // 4
        self.reference = nn.Sequential(nn.Linear(6, 32), nn.ReLU(inplace=True))
        self.classify = nn.Sequential(
            nn.Linear(c5 * rows_out * 2 + 32, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Linear(128, KIND_CLASSES),
        )
        radius = torch.from_numpy(strip_radii())
        self.radius: torch.Tensor
        self.register_buffer("radius", radius[None, None, :, None], persistent=False)

    def forward(self, strip: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Logits, N x KIND_CLASSES."""
        x = strip.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        r = reference.float() * (1.0 / 255.0)
        log_r = torch.log(r + 0.02)
        ratio = torch.log(x + 0.02) - log_r[:, :, None, None]
        radius = self.radius.expand(x.shape[0], 1, x.shape[2], x.shape[3])
        y = self.features(torch.cat([(x - 0.45) * 4.0, ratio, radius], 1))
        pooled = torch.cat([y.mean(dim=3), y.amax(dim=3)], 1).flatten(1)
        ref = torch.cat([(r - 0.45) * 4.0, log_r - log_r.mean(1, keepdim=True)], 1)
        out: torch.Tensor = self.classify(torch.cat([pooled, self.reference(ref)], 1))
        return out


class ExportedRimNet(nn.Module):  # type: ignore[misc,unused-ignore]
    """What goes into the crop model's ONNX file: probabilities over ``CROP_CLASSES`` (the
    checkout's labels and "not a dish"), the kinds' probabilities added up."""

    def __init__(self, net: RimNet) -> None:
        super().__init__()
        self.net = net
        fold = torch.zeros(KIND_CLASSES, max(KIND_TO_LABEL) + 1)
        fold[torch.arange(KIND_CLASSES), torch.tensor(KIND_TO_LABEL)] = 1.0
        self.fold: torch.Tensor
        self.register_buffer("fold", fold, persistent=False)

    def forward(self, strip: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Probabilities, N x CROP_CLASSES."""
        return torch.softmax(self.net(strip, reference), dim=1) @ self.fold
