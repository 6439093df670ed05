"""Everything on the synthetic frame that is not a dish: slot, tray, napkins, receipts and
cutlery."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.traycolour import pixel_ops as px
from models.traycolour.palette import HsvBox, hsv_to_rgb, srgb_to_linear
from models.traycolour.synth_light import smooth_noise

TRAY_MATERIALS = ("grey plastic", "beige plastic", "brown plastic", "brushed steel")


def linear(rgb: tuple[float, float, float]) -> np.ndarray:
    """Linear RGB array of a display sRGB colour (0..1)."""
    return np.array(srgb_to_linear(rgb), dtype=np.float32)


@dataclass(frozen=True)
class TrayPlacement:
    """Where the tray lies in the frame, in pixels."""

    cx: float
    cy: float
    half_w: float
    half_h: float
    angle: float  # radians
    corner: float  # corner radius

    def outline(self, inset: float = 0.0) -> np.ndarray:
        """Polygon of the tray outline moved inwards by ``inset`` pixels, int32 with 4-bit shift."""
        hw, hh = self.half_w - inset, self.half_h - inset
        r = max(self.corner - inset, 1.0)
        pts = []
        for sx, sy, start in ((1, 1, 0.0), (-1, 1, 0.5), (-1, -1, 1.0), (1, -1, 1.5)):
            for t in np.linspace(start * np.pi, (start + 0.5) * np.pi, 8):
                pts.append((sx * (hw - r) + r * np.cos(t), sy * (hh - r) + r * np.sin(t)))
        arr = np.array(pts)
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        x = self.cx + arr[:, 0] * ca - arr[:, 1] * sa
        y = self.cy + arr[:, 0] * sa + arr[:, 1] * ca
        return (np.stack([x, y], 1) * 16.0).astype(np.int32)

    def to_frame(self, u: float, v: float) -> tuple[float, float]:
        """Frame pixel of the tray-relative offset (u, v) from the tray's centre."""
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        return (self.cx + u * ca - v * sa, self.cy + u * sa + v * ca)


def fill_mask(h: int, w: int, polygon: np.ndarray) -> np.ndarray:
    """Anti-aliased 0..1 mask of a polygon given with a 4-bit fixed-point shift."""
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(mask, [polygon], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def nonzero_window(alpha: np.ndarray) -> tuple[slice, slice] | None:
    """The smallest window holding every non-zero value of ``alpha`` (None: there is none)."""
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def paint(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """In place: ``img = img * (1 - alpha) + colour * alpha`` (colour: RGB or per-pixel).

    Only within ``alpha``'s non-zero window: outside it the formula gives ``img`` back to the
    bit, so a napkin or a receipt costs its own size, not the frame's."""
    window = nonzero_window(alpha)
    if window is None:
        return
    a = alpha[window]
    target = img[window]
    px.scale(target, 1.0 - a)
    target += px.times(colour[window] if colour.ndim == 3 else colour, a)


def slot_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """The slot around the tray: dark steel, stone or painted metal."""
    v = float(rng.uniform(0.05, 0.55))
    hue = float(rng.uniform(0.0, 360.0))
    base = linear(hsv_to_rgb(hue, float(rng.uniform(0.0, 0.12)), v))
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = base
    px.scale(img, 1.0 + 0.1 * smooth_noise(rng, h, w, float(rng.uniform(3.0, 30.0))))
    return img


#: Each material is one product: its colour varies a little from tray to tray (dye lots, wear),
#: not across the whole range of greys or browns. A tray whose lightness could be anything
#: would leave a white plate and a grey one, lit differently, looking the same beside it.
TRAY_COLOURS: dict[str, HsvBox] = {
    "grey plastic": HsvBox((0.0, 360.0), (0.0, 0.05), (0.42, 0.62)),
    "beige plastic": HsvBox((32.0, 44.0), (0.15, 0.25), (0.68, 0.84)),
    "brown plastic": HsvBox((22.0, 32.0), (0.38, 0.52), (0.3, 0.44)),
    "brushed steel": HsvBox((190.0, 230.0), (0.0, 0.05), (0.55, 0.72)),
}


def _widened(
    span: tuple[float, float], widen: float, limit: tuple[float, float]
) -> tuple[float, float]:
    margin = widen * (span[1] - span[0])
    return (max(span[0] - margin, limit[0]), min(span[1] + margin, limit[1]))


def tray_material(rng: np.random.Generator, widen: float = 0.0) -> tuple[str, np.ndarray]:
    """A tray material and its base colour (linear RGB); ``widen`` stretches each range of
    ``TRAY_COLOURS`` by that share of its width on either side (training sees a little more
    than the held-out trays, so that their edges are no cliff)."""
    material = TRAY_MATERIALS[int(rng.integers(len(TRAY_MATERIALS)))]
    box = TRAY_COLOURS[material]
    hue = box.hue if box.hue == (0.0, 360.0) else _widened(box.hue, widen, (-360.0, 720.0))
    rgb = hsv_to_rgb(
        float(rng.uniform(*hue)),
        float(rng.uniform(*_widened(box.sat, widen, (0.0, 1.0)))),
        float(rng.uniform(*_widened(box.val, widen, (0.0, 1.0)))),
    )
    return material, linear(rgb)


def draw_tray(
    rng: np.random.Generator,
    img: np.ndarray,
    specular: np.ndarray,
    tray: TrayPlacement,
    *,
    material: str,
    base: np.ndarray,
) -> None:
    """The tray, with its raised lip and the material's texture, in place."""
    h, w = img.shape[:2]
    texture = np.empty((h, w, 3), dtype=np.float32)
    texture[:] = base
    if material == "brushed steel":
        # Brushing: noise stretched along one axis, plus a broad sheen.
        horizontal = rng.random() < 0.5
        n = rng.standard_normal((h, 1) if horizontal else (1, w)).astype(np.float32)
        streaks = np.broadcast_to(n, (h, w)) * 0.05
        streaks = streaks + 0.03 * smooth_noise(rng, h, w, 40.0)
        px.scale(texture, 1.0 + streaks)
        sheen = np.clip(smooth_noise(rng, h, w, 2.0), 0.0, None) * float(rng.uniform(0.05, 0.4))
        specular += sheen.astype(np.float32) * fill_mask(h, w, tray.outline())
    else:
        texture *= (1.0 + 0.04 * smooth_noise(rng, h, w, float(rng.uniform(20.0, 80.0))))[
            :, :, None
        ]
        if rng.random() < 0.3:  # moulded anti-slip pattern
            step = max(3, int(rng.uniform(0.01, 0.03) * w))
            rows = (np.arange(h) % step) < step // 3
            cols = (np.arange(w) % step) < step // 3
            texture[np.ix_(rows, cols)] *= float(rng.uniform(0.9, 1.08))
    lip = max(2.0, float(rng.uniform(0.02, 0.05)) * min(tray.half_w, tray.half_h))
    outer = fill_mask(h, w, tray.outline())
    inner = fill_mask(h, w, tray.outline(lip))
    lip_tone = float(rng.uniform(0.85, 1.1))
    # The lip (outer minus inner) is a shade off the tray's floor.
    paint(img, outer, px.times(texture, inner + lip_tone * (1.0 - inner)))
    # The lip's inner wall: a thin shaded line.
    edge = np.zeros((h, w), dtype=np.uint8)
    cv2.polylines(edge, [tray.outline(lip)], True, 255, max(1, int(lip * 0.4)), cv2.LINE_AA, 4)
    px.scale(img, 1.0 - float(rng.uniform(0.1, 0.35)) * edge.astype(np.float32) / 255.0)


#: An axis-aligned box x0, y0, x1, y1 in pixels.
Box = tuple[float, float, float, float]


def draw_napkin(
    rng: np.random.Generator, img: np.ndarray, specular: np.ndarray, tray: TrayPlacement
) -> tuple[np.ndarray, Box]:
    """A paper napkin lying flat on the tray (matte: it hides the tray's sheen); its mask and
    its box."""
    h, w = img.shape[:2]
    u = float(rng.uniform(-0.6, 0.6)) * tray.half_w
    v = float(rng.uniform(-0.6, 0.6)) * tray.half_h
    cx, cy = tray.to_frame(u, v)
    size = float(rng.uniform(0.2, 0.45)) * tray.half_h
    rect = ((cx, cy), (size * float(rng.uniform(1.0, 2.0)), size), float(rng.uniform(0, 180)))
    pts = (cv2.boxPoints(rect) * 16.0).astype(np.int32)
    mask = fill_mask(h, w, pts)
    tone = linear(
        hsv_to_rgb(
            float(rng.uniform(0, 360)), float(rng.uniform(0.0, 0.12)), rng.uniform(0.85, 1.0)
        )
    )
    folds = 1.0 - 0.08 * np.abs(smooth_noise(rng, h, w, 3.0))
    window = nonzero_window(mask)
    if window is not None:
        paint(img[window], mask[window], px.times(tone, folds[window]))
        specular[window] *= 1.0 - mask[window]
    corners = cv2.boxPoints(rect)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return mask, (float(x0), float(y0), float(x1), float(y1))


def draw_receipt(
    rng: np.random.Generator, img: np.ndarray, specular: np.ndarray, tray: TrayPlacement
) -> Box:
    """A till receipt lying flat on the tray: a strip of thermal paper with rows of print,
    now and then a barcode and a crease. Returns its box.

    A white rectangle on the tray is what a white square dish looks like to a model that has
    never seen paper: shown one, the checkout billed it as a white dish with full confidence.
    The box is a decoy (``TrayLabel.decoys``): the crop classifier learns it is not a dish.
    """
    h, w = img.shape[:2]
    u = float(rng.uniform(-0.65, 0.65)) * tray.half_w
    v = float(rng.uniform(-0.6, 0.6)) * tray.half_h
    cx, cy = tray.to_frame(u, v)
    across = float(rng.uniform(0.16, 0.3)) * 2 * tray.half_h
    along = across * float(rng.uniform(0.9, 2.6))
    angle = float(rng.uniform(0.0, 180.0))
    rect = ((cx, cy), (along, across), angle)
    paper = fill_mask(h, w, (cv2.boxPoints(rect) * 16.0).astype(np.int32))
    tone = linear(
        hsv_to_rgb(
            float(rng.uniform(30.0, 60.0)), float(rng.uniform(0.0, 0.08)), rng.uniform(0.86, 1.0)
        )
    )
    # Where the paper lies (the whole frame if it lies off it: nothing is painted then).
    rows, cols = nonzero_window(paper) or (slice(0, h), slice(0, w))
    window = (rows, cols)
    if rng.random() < 0.4:  # folded once across: one half a little in shade
        ca, sa = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        ys, xs = np.mgrid[rows, cols].astype(np.float32)
        side = ((xs - cx) * ca + (ys - cy) * sa) > float(rng.uniform(-0.2, 0.2)) * along
        shade = np.where(side, float(rng.uniform(0.8, 0.95)), 1.0).astype(np.float32)
        paint(img[window], paper[window], px.times(tone, shade))
    else:
        paint(img[window], paper[window], tone)
    specular[window] *= 1.0 - paper[window]
    # Print: rows of text along the strip, ink from black to faded grey.
    ink = np.zeros((h, w), dtype=np.uint8)
    ca, sa = np.cos(np.radians(angle)), np.sin(np.radians(angle))

    def at(a: float, b: float) -> tuple[int, int]:
        # Receipt coordinates (a along, b across, from its centre) to frame pixels, 4-bit shift.
        return (round((cx + a * ca - b * sa) * 16), round((cy + a * sa + b * ca) * 16))

    pitch = across * float(rng.uniform(0.05, 0.1))
    thickness = max(1, round(pitch * 0.3))
    a = -0.45 * along
    while a < 0.45 * along:
        start = -0.4 * across + float(rng.uniform(0.0, 0.2)) * across
        end = start + float(rng.uniform(0.15, 0.8)) * across
        cv2.line(ink, at(a, start), at(a, min(end, 0.4 * across)), 255, thickness, cv2.LINE_AA, 4)
        a += pitch * float(rng.choice([1.0, 1.0, 1.0, 2.0]))
    if rng.random() < 0.3:  # a barcode across the end of the strip
        for b in np.arange(-0.3 * across, 0.3 * across, max(1.0, pitch * 0.3)):
            if rng.random() < 0.5:
                cv2.line(ink, at(0.38 * along, b), at(0.46 * along, b), 255, 1, cv2.LINE_AA, 4)
    printed = ink[window].astype(np.float32) / 255.0 * paper[window]
    paint(img[window], printed, linear((0.1, 0.1, 0.12)) * float(rng.uniform(1.0, 4.0)))
    corners = cv2.boxPoints(rect)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return (float(x0), float(y0), float(x1), float(y1))


_CUTLERY_RGB = (
    (0.78, 0.62, 0.42),  # wood
    (0.85, 0.75, 0.55),  # bamboo
    (0.1, 0.1, 0.1),  # black lacquer
    (0.65, 0.1, 0.1),  # red lacquer
    (0.93, 0.93, 0.9),  # white plastic
    (0.7, 0.71, 0.74),  # steel
)


def _spoon(mask: np.ndarray, centre: tuple[float, float], angle: float, length: float) -> Box:
    """Draw a spoon's outline into ``mask``; the box of its bowl."""
    ca, sa = np.cos(angle), np.sin(angle)
    cx, cy = centre
    bowl = (int(length * 0.22), int(length * 0.14))
    bowl_centre = (int(cx + ca * length * 0.3), int(cy + sa * length * 0.3))
    cv2.ellipse(mask, bowl_centre, bowl, float(np.degrees(angle)), 0, 360, 255, -1, cv2.LINE_AA)
    end = (int(cx - ca * length * 0.5), int(cy - sa * length * 0.5))
    cv2.line(mask, bowl_centre, end, 255, max(2, int(length * 0.07)), cv2.LINE_AA)
    # The box of the rotated ellipse: half extents sqrt((a cos)^2 + (b sin)^2) and so on.
    half_x = float(np.hypot(bowl[0] * ca, bowl[1] * sa))
    half_y = float(np.hypot(bowl[0] * sa, bowl[1] * ca))
    bx, by = float(bowl_centre[0]), float(bowl_centre[1])
    return (bx - half_x, by - half_y, bx + half_x, by + half_y)


def draw_cutlery(
    rng: np.random.Generator,
    img: np.ndarray,
    specular: np.ndarray,
    tray: TrayPlacement,
    shadow_offset: tuple[float, float],
) -> tuple[np.ndarray, Box | None]:
    """Chopsticks or a spoon lying anywhere on the tray, dishes included; returns its mask
    and, for a spoon, the box of its bowl (an oval that could pass for a small dish)."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), dtype=np.uint8)
    rgb = _CUTLERY_RGB[int(rng.integers(len(_CUTLERY_RGB)))]
    u = float(rng.uniform(-0.7, 0.7)) * tray.half_w
    v = float(rng.uniform(-0.7, 0.7)) * tray.half_h
    cx, cy = tray.to_frame(u, v)
    angle = float(rng.uniform(0, np.pi))
    ca, sa = np.cos(angle), np.sin(angle)
    bowl_box: Box | None = None
    if rng.random() < 0.6:  # a pair of chopsticks
        length = float(rng.uniform(0.6, 0.95)) * tray.half_w * 2
        thick = max(1.5, float(rng.uniform(0.012, 0.02)) * tray.half_w * 2)
        gap = thick * float(rng.uniform(1.2, 4.0))
        for side in (-1.0, 1.0):
            ox, oy = -sa * gap * side, ca * gap * side
            half = length / 2
            tip = thick * 0.35
            pts = np.array(
                [
                    (cx + ox - ca * half - sa * thick / 2, cy + oy - sa * half + ca * thick / 2),
                    (cx + ox - ca * half + sa * thick / 2, cy + oy - sa * half - ca * thick / 2),
                    (cx + ox + ca * half + sa * tip, cy + oy + sa * half - ca * tip),
                    (cx + ox + ca * half - sa * tip, cy + oy + sa * half + ca * tip),
                ]
            )
            cv2.fillPoly(mask, [(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    else:  # a spoon: ceramic soup spoon or steel
        length = float(rng.uniform(0.35, 0.55)) * tray.half_h * 2
        bowl_box = _spoon(mask, (cx, cy), angle, length)
    # Work in the piece's bounding box (with room for its shadow) rather than the whole frame.
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        return np.zeros((h, w), dtype=np.float32), None
    pad = int(abs(shadow_offset[0]) + abs(shadow_offset[1])) * 3 + 4
    x0, y0 = max(bx - pad, 0), max(by - pad, 0)
    x1, y1 = min(bx + bw + pad, w), min(by + bh + pad, h)
    window = (slice(y0, y1), slice(x0, x1))
    alpha = mask[window].astype(np.float32) / 255.0
    rh, rw = alpha.shape
    # Its shadow first, then the piece itself with a faint sheen along it.
    shift = np.array([[1, 0, shadow_offset[0]], [0, 1, shadow_offset[1]]], dtype=np.float32)
    shadow = cv2.warpAffine(alpha, shift, (rw, rh))
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, abs(shadow_offset[0]) + 1.0))
    roi = img[window]
    px.scale(roi, 1.0 - 0.35 * shadow)
    colour = px.times(linear(rgb), 1.0 + 0.08 * smooth_noise(rng, rh, rw, 30.0))
    paint(roi, alpha, colour)
    sheen = (cv2.erode(alpha, np.ones((3, 3), np.uint8)) > 0.5).astype(np.float32)
    spec_roi = specular[window]
    spec_roi *= 1.0 - alpha
    spec_roi += alpha * float(rng.uniform(0.0, 0.6)) * sheen
    full = np.zeros((h, w), dtype=np.float32)
    full[window] = alpha
    return full, bowl_box
