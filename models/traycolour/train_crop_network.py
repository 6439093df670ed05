"""The crop classifier, the second stage (PyTorch; training and export only).

It looks at one candidate dish at a time, cut from the full-resolution frame (``crops``), and
tells its colour, "unknown", or "not a dish". It exists because the first network sees the
frame at 256x192: a small bowl's rim there is a pixel or two wide and mixed with the food and
the tray around it, while the frame the camera delivers holds several times more.
"""

from __future__ import annotations

import torch
from torch import nn

from models.traycolour.crop_samples import CROP_CLASSES
from models.traycolour.train_network import _cbr


class CropNet(nn.Module):  # type: ignore[misc,unused-ignore]
    """One candidate's crop (uint8 N x S x S x 3 BGR) and its frame's tray reference (float
    N x 3 BGR, 0..255) to logits over ``CROP_CLASSES``.

    Colour constancy is given, not left to be found: besides the crop itself the first layer
    sees the crop's log ratio to the tray reference per channel (a von Kries normalisation:
    under 3000 K light a white plate is as orange as the tray around it, a yellow one much more
    so), and a radial coordinate, so that it knows where the rim is expected. The last feature
    map (4 x 4) is flattened, not averaged, to keep where things are: a dish fills the crop
    with its rim on a ring, a napkin or an off-centre box does not.
    """

    def __init__(self, side: int, widths: tuple[int, int, int, int] = (16, 32, 64, 96)) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths
        self.features = nn.Sequential(
            _cbr(7, c1, 2),
            _cbr(c1, c1),
            _cbr(c1, c2, 2),
            _cbr(c2, c2),
            _cbr(c2, c3, 2),
            _cbr(c3, c3),
            _cbr(c3, c4, 2),
            _cbr(c4, c4),
        )
        cells = (side // 16) ** 2
        self.reference = nn.Sequential(nn.Linear(6, 32), nn.ReLU(inplace=True))
        self.classify = nn.Sequential(
            nn.Linear(c4 * cells + 32, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Linear(128, CROP_CLASSES),
        )
        ramp = torch.linspace(-1.0, 1.0, side)
        radius = torch.sqrt(ramp[None, :] ** 2 + ramp[:, None] ** 2)
        self.radius: torch.Tensor
        self.register_buffer("radius", radius[None, None], persistent=False)

    def forward(self, crop: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Logits, N x CROP_CLASSES."""
        x = crop.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        r = reference.float() * (1.0 / 255.0)
        log_r = torch.log(r + 0.02)
        ratio = torch.log(x + 0.02) - log_r[:, :, None, None]
        radius = self.radius.expand(x.shape[0], 1, x.shape[2], x.shape[3])
        y = self.features(torch.cat([(x - 0.45) * 4.0, ratio, radius], 1))
        ref = torch.cat([(r - 0.45) * 4.0, log_r - log_r.mean(1, keepdim=True)], 1)
        out: torch.Tensor = self.classify(torch.cat([y.flatten(1), self.reference(ref)], 1))
        return out


class ExportedCropNet(nn.Module):  # type: ignore[misc,unused-ignore]
    """What goes into the crop model's ONNX file: class probabilities, not logits."""

    def __init__(self, net: CropNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, crop: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Probabilities, N x CROP_CLASSES."""
        return torch.softmax(self.net(crop, reference), dim=1)
