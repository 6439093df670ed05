"""The tray-colour network (PyTorch; training and export only).

A small fully convolutional encoder-decoder (U-Net shape) on the 256x192 letterboxed frame,
with one output map at stride 4 (64x48 cells) holding three heads:

* ``heat`` (1 channel): CenterNet-style dish-centre heat map;
* ``geometry`` (4): log width and log height of the dish's box in cells, sub-cell centre offset;
* ``classes`` (11): per-cell class: background, food, dish surface of each of the eight colours,
  dish surface of an unknown colour or pattern;
* ``dish_logits`` (9 + 1): per-cell dish-colour logits (eight colours and "unknown") and an
  attention logit; ``decode`` averages the colour logits over each dish's cells weighted by
  the attention (see there), and training goes through exactly that pooling, so the network
  learns where a dish's colour shows (its rim) and decides per dish, not per pixel.

A stride-2 shortcut from the stem into the last decoder stage keeps fine colour detail: a
bowl's rim may be only a couple of input pixels wide.

A global-context branch (mean of the deepest features) modulates the decoder (FiLM): the colour
of the light is a property of the whole frame, and judging "white under warm light" against
"yellow" needs the tray and the other dishes as a reference.
"""

from __future__ import annotations

from typing import Final

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn

from models.traycolour.palette import LABELS, N_SEG_CLASSES

HEAT_CHANNELS: Final = 1
GEOMETRY_CHANNELS: Final = 4
DISH_CHANNELS: Final = len(LABELS)
SEG_START: Final = HEAT_CHANNELS + GEOMETRY_CHANNELS
DISH_START: Final = SEG_START + N_SEG_CLASSES
ATTENTION: Final = DISH_START + DISH_CHANNELS
OUTPUT_CHANNELS: Final = ATTENTION + 1
#: Channels of the five encoder scales, and of the last decoder stage (stride 4): 185 M
#: multiply-adds a frame, 4.3 ms on one thread in float32 (``build`` says why float32).
#: Narrower ones were tried, each trained 1,700 steps on the same 20,000 trays and scored on
#: the same 1,000 validation trays before any crop classifier, as share of trays with a dish
#: missed / with an extra peak / with a doubtful one: these widths 1.2 / 3.1 / 14.4 %;
#: (16, 20, 32, 48, 64) and 32, 122 M and 3.3 ms, 1.7 / 3.9 / 15.5 %; (12, 16, 32, 48, 64)
#: and 24, 94 M and 2.7 ms, 1.9 / 3.7 / 17.9 %. A missed or extra dish is a wrong bill or a
#: tray for staff, so the millisecond was left in.
WIDTHS: Final = (16, 24, 48, 64, 96)
FINE_WIDTH: Final = 32


def _cbr(
    c_in: int, c_out: int, stride: int = 1, kernel: int = 3, dilation: int = 1
) -> nn.Sequential:
    pad = dilation * (kernel // 2)
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class TrayNet(nn.Module):  # type: ignore[misc,unused-ignore]
    """Encoder-decoder with centre, size and per-cell class heads; input uint8 NHWC BGR."""

    def __init__(
        self, widths: tuple[int, int, int, int, int] = WIDTHS, fine_width: int = FINE_WIDTH
    ) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        self.stem = _cbr(3, c1, 2)
        self.enc2 = nn.Sequential(_cbr(c1, c2, 2), _cbr(c2, c2))
        self.enc3 = nn.Sequential(_cbr(c2, c3, 2), _cbr(c3, c3))
        self.enc4 = nn.Sequential(_cbr(c3, c4, 2), _cbr(c4, c4), _cbr(c4, c4, dilation=2))
        self.enc5 = nn.Sequential(_cbr(c4, c5, 2), _cbr(c5, c5), _cbr(c5, c5))
        self.context = nn.Sequential(
            nn.Linear(c5, c5), nn.ReLU(inplace=True), nn.Linear(c5, 2 * c4)
        )
        self.dec4 = nn.Sequential(_cbr(c5 + c4, c4, kernel=1), _cbr(c4, c4))
        self.dec4_out = _cbr(c4, c4)
        self.dec3 = nn.Sequential(_cbr(c4 + c3, c3, kernel=1), _cbr(c3, c3), _cbr(c3, c3))
        self.fine = _cbr(c1, c1, 2)
        self.dec2 = nn.Sequential(
            _cbr(c3 + c2 + c1, fine_width, kernel=1), _cbr(fine_width, fine_width)
        )
        self.head = nn.Conv2d(fine_width, OUTPUT_CHANNELS, 1)
        bias = self.head.bias
        if bias is not None:
            with torch.no_grad():
                # Start the heat map near "no dish here" (prior 0.1), as CenterNet does.
                bias[0] = -2.19

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Raw logits, N x OUTPUT_CHANNELS x H/4 x W/4, from uint8 N x H x W x 3 BGR."""
        x = image.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        x = (x - 0.45) * 4.0  # about zero mean, unit spread
        x1 = self.stem(x)
        x2 = self.enc2(x1)
        x3 = self.enc3(x2)
        x4 = self.enc4(x3)
        x5 = self.enc5(x4)
        film = self.context(x5.mean(dim=(2, 3)))
        scale, shift = film.chunk(2, dim=1)
        y = self.dec4(torch.cat([F.interpolate(x5, scale_factor=2.0, mode="nearest"), x4], 1))
        y = self.dec4_out(y * (1.0 + torch.tanh(scale))[:, :, None, None] + shift[:, :, None, None])
        y = self.dec3(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), x3], 1))
        up = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = self.dec2(torch.cat([up, x2, self.fine(x1)], 1))
        out: torch.Tensor = self.head(y)
        return out


class ExportedTrayNet(nn.Module):  # type: ignore[misc,unused-ignore]
    """What goes into the ONNX file: probabilities where they are needed, four named outputs."""

    def __init__(self, net: TrayNet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, image: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heat (sigmoid), geometry (raw), class probabilities (softmax), dish logits and
        attention (raw)."""
        out = self.net(image)
        heat = torch.sigmoid(out[:, :HEAT_CHANNELS])
        geometry = out[:, HEAT_CHANNELS:SEG_START]
        classes = torch.softmax(out[:, SEG_START:DISH_START], dim=1)
        return heat, geometry, classes, out[:, DISH_START:]
