"""A second, independent tray renderer, used ONLY for evaluation ("drawn differently").

Nothing here is shared with ``synth.py`` except the label types and the colour-family names;
the drawing works differently on purpose, so that its figures say how far the model carries
beyond the look of the data it was trained on:

* dishes are height fields (rim lip, well, bowl cavity) lit by a directional light with
  Lambert diffuse and Blinn-Phong specular terms from the surface normals, rather than
  hand-made shading profiles; square dishes use a rounded Chebyshev norm, not a superellipse;
  rims range from very narrow to very wide, bowls are deeper;
* colours are named prototypes (CSS-like sRGB values) jittered in CIELAB, not HSV boxes;
* food is many small drawn pieces (grains, strands, chunks, leaves, oil drops), added until
  the wanted share of the interior is covered;
* trays: speckled melamine, fibreglass, wood-grain laminate, steel with a reflection band;
  around them a tiled or wooden counter; receipts and folded napkins besides chopsticks;
* light: the Planckian locus from the Kim et al. cubic fit, white balance either fixed or a
  grey-world estimate (which errs on colourful trays, as real cameras do); window-blind
  shadows or a spot light;
* camera: a Bayer RGGB mosaic with Poisson-Gaussian noise, OpenCV demosaicing, exact sRGB
  curve, unsharp masking, lateral chromatic aberration, then JPEG or WebP;
* scenes are drawn 2x supersampled and averaged down, not analytically anti-aliased.
"""

from __future__ import annotations

import zlib

import cv2
import numpy as np

from models.traycolour.labels import ItemLabel, TrayLabel
from models.traycolour.palette import UNKNOWN

RENDERER = "synth_alt"
_SIZES = (
    ((640, 480), 0.55),
    ((320, 240), 0.1),
    ((720, 540), 0.05),
    ((800, 450), 0.1),
    ((1024, 768), 0.1),
    ((1280, 960), 0.05),
    ((1920, 1080), 0.05),
)
_WORK_SIDE = 400  # longest side the scene is drawn at, before the 2x supersampling

# Named prototypes per family, display sRGB 0..255.
_PROTOTYPES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "red": ((200, 30, 35), (178, 34, 34), (220, 20, 60), (230, 40, 40), (150, 20, 25)),
    "orange": ((255, 140, 0), (245, 130, 30), (255, 165, 0), (235, 110, 20), (250, 150, 50)),
    "yellow": ((255, 215, 0), (250, 220, 50), (255, 235, 80), (240, 200, 30), (255, 250, 60)),
    "green": ((34, 139, 34), (40, 160, 70), (0, 128, 0), (60, 179, 113), (85, 170, 60)),
    "blue": ((30, 70, 180), (65, 105, 225), (0, 0, 139), (30, 144, 255), (25, 60, 140)),
    "purple": ((128, 0, 128), (102, 51, 153), (120, 60, 170), (75, 0, 130), (140, 70, 180)),
    "white": ((250, 250, 248), (245, 245, 240), (240, 242, 245), (252, 250, 245)),
    "black": ((20, 20, 22), (35, 32, 30), (12, 12, 16), (40, 40, 45)),
    "pink": ((255, 182, 193), (255, 105, 180), (255, 20, 147), (250, 160, 190)),
    "brown": ((139, 69, 19), (120, 72, 40), (101, 67, 33), (150, 85, 40)),
    "grey": ((128, 128, 128), (169, 169, 169), (105, 105, 105), (150, 150, 155)),
    "cyan": ((0, 200, 200), (32, 178, 170), (0, 160, 170), (64, 210, 210)),
}
_BILLABLE = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
_UNKNOWN_KINDS = ("pink", "brown", "grey", "cyan", "patterned", "half-and-half")


def _srgb_to_lin(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lin_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _prototype(rng: np.random.Generator, family: str) -> np.ndarray:
    """A jittered prototype of ``family`` as linear RGB (jitter of about 3 units in CIELAB)."""
    options = _PROTOTYPES[family]
    base = np.array(options[int(rng.integers(len(options)))], np.uint8).reshape(1, 1, 3)
    lab = cv2.cvtColor(base.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab += rng.normal(0.0, 2.5, 3).astype(np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB).reshape(3)
    return _srgb_to_lin(np.clip(rgb, 0.0, 1.0).astype(np.float64)).astype(np.float32)


def _planckian_xy(kelvin: float) -> tuple[float, float]:
    """Chromaticity of a black body (Kim et al. 2002 cubic spline, 1667-25000 K)."""
    t = kelvin
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


def _light_rgb(kelvin: float) -> np.ndarray:
    x, y = _planckian_xy(kelvin)
    xyz = np.array([x / y, 1.0, (1 - x - y) / y])
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    rgb = np.clip(m @ xyz, 1e-3, None)
    return np.asarray(rgb / rgb.max(), dtype=np.float32)


def _norm(
    shape: str, xr: np.ndarray, yr: np.ndarray, *, a: float, b: float, corner: float
) -> np.ndarray:
    """Normalised radius: 1 on the outline (ellipse, or rounded Chebyshev box)."""
    if shape != "square":
        return np.sqrt((xr / a) ** 2 + (yr / b) ** 2)
    qx = np.maximum(np.abs(xr) - (a - corner), 0.0)
    qy = np.maximum(np.abs(yr) - (b - corner), 0.0)
    outside = np.sqrt(qx * qx + qy * qy) / corner
    inside = np.maximum(np.abs(xr) / a, np.abs(yr) / b)
    corners = (a - corner) / a + outside * corner / a
    return np.asarray(np.where((qx > 0) & (qy > 0), corners, inside), dtype=np.float32)


class _Dish:
    def __init__(self, rng: np.random.Generator, shape: str, cx: float, cy: float, size: float):
        self.shape = shape
        self.cx, self.cy = cx, cy
        if shape == "oval":
            self.a, self.b = size, size * float(rng.uniform(0.5, 0.8))
        elif shape == "square":
            self.a = size * 0.9
            self.b = self.a * (1.0 if rng.random() < 0.6 else float(rng.uniform(0.7, 0.9)))
        else:
            self.a = self.b = size
        self.corner = min(self.a, self.b) * float(rng.uniform(0.12, 0.4))
        self.angle = float(rng.uniform(0, np.pi)) if shape in ("oval", "square") else 0.0
        self.rim = float(rng.uniform(0.06, 0.2) if shape == "bowl" else rng.uniform(0.08, 0.45))

    def corners(self) -> np.ndarray:
        ca, sa = np.cos(self.angle), np.sin(self.angle)
        t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        if self.shape == "square":
            pts = np.stack(
                [
                    np.clip(1.5 * np.cos(t), -1, 1) * self.a,
                    np.clip(1.5 * np.sin(t), -1, 1) * self.b,
                ],
                1,
            )
        else:
            pts = np.stack([np.cos(t) * self.a, np.sin(t) * self.b], 1)
        return np.stack(
            [self.cx + pts[:, 0] * ca - pts[:, 1] * sa, self.cy + pts[:, 0] * sa + pts[:, 1] * ca],
            1,
        )

    def box(self) -> tuple[float, float, float, float]:
        c = self.corners()
        return (
            float(c[:, 0].min()),
            float(c[:, 1].min()),
            float(c[:, 0].max()),
            float(c[:, 1].max()),
        )

    def area(self) -> float:
        if self.shape == "square":
            return 4 * self.a * self.b - (4 - np.pi) * self.corner**2
        return float(np.pi * self.a * self.b)


def _wood(rng: np.random.Generator, h: int, w: int, base: np.ndarray) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = cv2.resize(
        rng.normal(0, 1, (6, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    rings = np.sin(ys * float(rng.uniform(0.08, 0.2)) + warp * 6.0 + xs * 0.01)
    return np.asarray(base[None, None, :] * (0.85 + 0.15 * rings[:, :, None]), dtype=np.float32)


def _speckle(
    rng: np.random.Generator, h: int, w: int, base: np.ndarray, amount: float
) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    dots = rng.random((h, w)) < amount
    img[dots] *= rng.uniform(0.5, 1.5, (int(dots.sum()), 1)).astype(np.float32)
    return cv2.GaussianBlur(img, (3, 3), 0.6)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    if rng.random() < 0.5:  # tiled counter
        tone = _srgb_to_lin(np.full(3, rng.uniform(0.2, 0.7))).astype(np.float32)
        img = np.empty((h, w, 3), np.float32)
        img[:] = tone
        step = int(rng.integers(max(8, w // 10), max(9, w // 4)))
        img[::step, :] *= 0.5
        img[:, ::step] *= 0.5
        return img
    return _wood(
        rng,
        h,
        w,
        _srgb_to_lin(np.array([0.45, 0.3, 0.18]) * rng.uniform(0.6, 1.2)).astype(np.float32),
    )


def _tray(rng: np.random.Generator, h: int, w: int) -> tuple[str, np.ndarray, np.ndarray]:
    kind = ("speckled melamine", "fibreglass", "wood-grain laminate", "stainless steel")[
        int(rng.integers(4))
    ]
    if kind == "speckled melamine":
        base = _srgb_to_lin(np.full(3, rng.uniform(0.35, 0.75))).astype(np.float32)
        tex = _speckle(rng, h, w, base, 0.08)
    elif kind == "fibreglass":
        base = _srgb_to_lin(np.array([0.82, 0.74, 0.6]) * rng.uniform(0.75, 1.05)).astype(
            np.float32
        )
        fib = cv2.resize(rng.normal(0, 1, (h // 8 + 1, 2)).astype(np.float32), (w, h))
        tex = base[None, None, :] * (1 + 0.05 * fib[:, :, None])
    elif kind == "wood-grain laminate":
        tex = _wood(
            rng,
            h,
            w,
            _srgb_to_lin(np.array([0.45, 0.3, 0.2]) * rng.uniform(0.6, 1.1)).astype(np.float32),
        )
    else:
        base = _srgb_to_lin(np.full(3, rng.uniform(0.5, 0.72))).astype(np.float32)
        brush = cv2.resize(rng.normal(0, 1, (2, w)).astype(np.float32), (w, h))
        tex = base[None, None, :] * (1 + 0.06 * brush[:, :, None])
        band = np.exp(-(((np.arange(w) - rng.uniform(0, w)) / (0.15 * w)) ** 2)).astype(np.float32)
        tex = tex + 0.25 * band[None, :, None]
    mask: np.ndarray = np.zeros((h, w), np.uint8)
    margin_x, margin_y = int(w * rng.uniform(0.02, 0.12)), int(h * rng.uniform(0.02, 0.1))
    r = int(min(h, w) * rng.uniform(0.01, 0.06))
    x0, y0, x1, y1 = margin_x, margin_y, w - margin_x, h - margin_y
    cv2.rectangle(mask, (x0 + r, y0), (x1 - r, y1), 255, -1)
    cv2.rectangle(mask, (x0, y0 + r), (x1, y1 - r), 255, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1)
    angle = float(rng.uniform(-5, 5))
    rot = cv2.getRotationMatrix2D((w / 2 + rng.uniform(-0.03, 0.03) * w, h / 2), angle, 1.0)
    mask = cv2.warpAffine(mask, rot, (w, h))
    border = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
    tex = tex * (1.0 - 0.35 * (border[:, :, None] / 255.0))
    return kind, tex.astype(np.float32), mask


def _food_pieces(
    rng: np.random.Generator,
    canvas: np.ndarray,
    mask: np.ndarray,
    *,
    region: np.ndarray,
    target: float,
    scale: float,
) -> float:
    """Draw food pieces into ``canvas`` and ``mask`` inside ``region`` up to ``target`` cover."""
    total = float(region.sum())
    ys, xs = np.nonzero(region)
    kinds = ("grains", "strands", "chunks", "leaves", "drops")
    palette = (
        (250, 248, 240),
        (235, 200, 120),
        (150, 50, 30),
        (220, 50, 40),
        (60, 130, 40),
        (245, 190, 40),
        (240, 130, 40),
        (90, 50, 100),
        (120, 90, 60),
        (30, 30, 30),
        (200, 60, 120),
        (250, 250, 250),
    )
    covered = 0.0
    for _ in range(12):
        kind = kinds[int(rng.integers(len(kinds)))]
        colour = np.array(palette[int(rng.integers(len(palette)))], np.float32) / 255.0
        colour = _srgb_to_lin(np.clip(colour * rng.uniform(0.8, 1.15, 3), 0, 1)).astype(np.float32)
        k = int(rng.integers(len(xs)))
        cx, cy = int(xs[k]), int(ys[k])
        spread = scale * float(rng.uniform(0.2, 0.55))
        n = int(rng.integers(20, 90))
        for _ in range(n):
            px = int(cx + rng.normal(0, spread))
            py = int(cy + rng.normal(0, spread))
            shade = tuple(float(v) for v in colour * rng.uniform(0.75, 1.2))
            if kind == "grains":
                axes = (max(1, int(scale * 0.05)), max(1, int(scale * 0.025)))
                cv2.ellipse(canvas, (px, py), axes, float(rng.uniform(0, 180)), 0, 360, shade, -1)
                cv2.ellipse(mask, (px, py), axes, 0, 0, 360, 255, -1)
            elif kind == "strands":
                end = (int(px + rng.normal(0, scale * 0.3)), int(py + rng.normal(0, scale * 0.3)))
                th = max(1, int(scale * 0.03))
                cv2.line(canvas, (px, py), end, shade, th)
                cv2.line(mask, (px, py), end, 255, th)
            elif kind == "chunks":
                rr = max(2, int(scale * rng.uniform(0.06, 0.14)))
                pts = np.array(
                    [
                        (
                            px + rr * np.cos(t) * rng.uniform(0.7, 1.2),
                            py + rr * np.sin(t) * rng.uniform(0.7, 1.2),
                        )
                        for t in np.linspace(0, 2 * np.pi, 7, endpoint=False)
                    ],
                    np.int32,
                )
                cv2.fillPoly(canvas, [pts], shade)
                cv2.polylines(canvas, [pts], True, tuple(v * 0.6 for v in shade), 1)
                cv2.fillPoly(mask, [pts], 255)
            elif kind == "leaves":
                axes = (
                    max(2, int(scale * rng.uniform(0.08, 0.18))),
                    max(1, int(scale * rng.uniform(0.03, 0.07))),
                )
                cv2.ellipse(canvas, (px, py), axes, float(rng.uniform(0, 180)), 0, 360, shade, -1)
                cv2.ellipse(mask, (px, py), axes, 0, 0, 360, 255, -1)
            else:
                rr = max(2, int(scale * rng.uniform(0.08, 0.25)))
                cv2.circle(canvas, (px, py), rr, shade, -1)
                cv2.circle(mask, (px, py), rr, 255, -1)
        mask &= region.astype(np.uint8) * 255
        covered = float((mask > 0).sum()) / max(total, 1.0)
        if covered >= target:
            break
    if covered > target + 0.05:
        # Too much: erode the food back towards the target.
        kernel = np.ones((3, 3), np.uint8)
        for _ in range(30):
            mask = cv2.erode(mask, kernel)
            covered = float((mask > 0).sum()) / max(total, 1.0)
            if covered <= target + 0.03:
                break
    return covered


def _shade_dish(
    dish: _Dish,
    albedo: np.ndarray,
    origin: tuple[int, int],
    light: np.ndarray,
    *,
    shininess: float,
    gloss: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shaded dish, specular term, coverage and normalised radius over the dish's window."""
    h, w = albedo.shape[:2]
    x0, y0 = origin
    ys, xs = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    dx, dy = xs - dish.cx, ys - dish.cy
    ca, sa = np.cos(dish.angle), np.sin(dish.angle)
    xr, yr = dx * ca + dy * sa, -dx * sa + dy * ca
    r = _norm(dish.shape, xr, yr, a=dish.a, b=dish.b, corner=dish.corner)
    inner = 1.0 - dish.rim
    size = min(dish.a, dish.b)
    if dish.shape == "bowl":
        depth = np.where(r < inner, (1.0 - (r / inner) ** 2) * -0.6, 0.0)
        lip = np.exp(-(((r - (inner + 0.5 * dish.rim)) / (0.4 * dish.rim + 1e-3)) ** 2)) * 0.08
        height: np.ndarray = (depth + lip) * size
    else:
        rise = np.clip((r - inner) / (0.35 * dish.rim + 1e-3), 0, 1)
        well = np.where(r < inner, -0.05, -0.05 + 0.12 * rise)
        edge = np.where(r > 0.93, -0.4 * (r - 0.93), 0.0)
        height = np.asarray(cv2.GaussianBlur((well + edge).astype(np.float32), (0, 0), 1.2)) * size
    gy, gx = np.gradient(height.astype(np.float32))
    normal = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    diffuse = np.clip(normal @ light, 0.0, 1.0)
    half = light + np.array([0, 0, 1], np.float32)
    half /= np.linalg.norm(half)
    spec = gloss * np.clip(normal @ half, 0.0, 1.0) ** shininess
    inside = (r <= 1.0).astype(np.float32)
    occlusion = np.where(r < inner, 0.85 if dish.shape == "bowl" else 0.97, 1.0)
    shaded = albedo * (0.35 + 0.75 * diffuse * occlusion)[:, :, None]
    return shaded.astype(np.float32), spec.astype(np.float32), inside, r


def _paper(rng: np.random.Generator, scene: np.ndarray) -> None:
    """A receipt with printed lines, or a folded napkin, lying on the tray."""
    h, w = scene.shape[:2]
    px, py = int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.8) * h)
    pw, ph = int(w * rng.uniform(0.06, 0.12)), int(h * rng.uniform(0.15, 0.3))
    rect = cv2.boxPoints(((px, py), (pw, ph), float(rng.uniform(0, 180)))).astype(np.int32)
    paper = np.zeros((h, w), np.uint8)
    cv2.fillPoly(paper, [rect if rng.random() < 0.5 else rect[:3]], 255)
    pm = paper[:, :, None] / 255.0
    scene *= 1 - pm
    scene += 0.85 * pm
    if rng.random() < 0.5:
        for k in range(8):
            yy = py - ph // 2 + k * ph // 9
            cv2.line(scene, (px - pw // 3, yy), (px + pw // 3, yy), (0.1, 0.1, 0.1), 1)


def _place(
    rng: np.random.Generator, tray_mask: np.ndarray, n: int
) -> tuple[list[_Dish], np.ndarray]:
    """Up to ``n`` dishes inside the tray, overlapping at most 1 % (touching)."""
    h, w = tray_mask.shape
    ys_t, xs_t = np.nonzero(tray_mask > 0)
    occupied = np.zeros((h, w), np.uint8)
    short = min(h, w) * 0.8
    crowd = (1.0, 0.95, 0.85, 0.78, 0.7, 0.65)[n - 1]
    dishes: list[_Dish] = []
    for _ in range(n):
        for _try in range(80):
            shape = ("round", "bowl", "oval", "square")[
                int(rng.choice(4, p=[0.35, 0.3, 0.15, 0.2]))
            ]
            k = int(rng.integers(len(xs_t)))
            size = short * float(rng.uniform(0.1, 0.27)) * crowd
            dish = _Dish(rng, shape, float(xs_t[k]), float(ys_t[k]), size)
            poly = dish.corners()
            bx0, by0 = np.floor(poly.min(axis=0)).astype(int)
            bx1, by1 = np.ceil(poly.max(axis=0)).astype(int) + 1
            if bx0 < 0 or by0 < 0 or bx1 > w or by1 > h:
                continue
            m = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
            cv2.fillPoly(m, [(poly - (bx0, by0)).astype(np.int32)], 255)
            area = float((m > 0).sum())
            window = (slice(by0, by1), slice(bx0, bx1))
            if area == 0 or ((m > 0) & (tray_mask[window] == 0)).sum() > 0.005 * area:
                continue
            if ((m > 0) & (occupied[window] > 0)).sum() > 0.01 * area:
                continue
            occupied[window] |= m
            dishes.append(dish)
            break
    return dishes, occupied


def _surface(
    rng: np.random.Generator, dish: _Dish, family: str, window: tuple[int, int, int, int]
) -> np.ndarray:
    """Albedo of the dish over its window: one colour, a pattern, or two halves."""
    x0, y0, x1, y1 = window
    albedo = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    if family == "patterned":
        first, second = rng.choice(list(_PROTOTYPES), 2, replace=False)
        albedo[:] = _prototype(rng, str(first))
        step = max(3.0, min(dish.a, dish.b) * float(rng.uniform(0.12, 0.3)))
        if rng.random() < 0.5:  # blue-and-white style blots
            pattern = (np.sin(xs / step * 3.0) * np.sin(ys / step * 3.0)) > 0.3
        else:
            ang = np.arctan2(ys - dish.cy, xs - dish.cx)
            pattern = np.sin(ang * int(rng.integers(6, 16))) > 0
        albedo[pattern] = _prototype(rng, str(second))
    elif family == "half-and-half":
        first, second = rng.choice(_BILLABLE, 2, replace=False)
        cut = float(rng.uniform(0, np.pi))
        side = ((xs - dish.cx) * np.cos(cut) + (ys - dish.cy) * np.sin(cut)) > 0
        albedo[:] = _prototype(rng, str(first))
        albedo[side] = _prototype(rng, str(second))
    else:
        albedo[:] = _prototype(rng, family)
    return albedo


def _draw_dish(
    rng: np.random.Generator,
    scene: np.ndarray,
    spec_total: np.ndarray,
    dish: _Dish,
    light: np.ndarray,
) -> tuple[str, float]:
    """Draw one dish with its food; returns its family and food coverage."""
    h, w = scene.shape[:2]
    if rng.random() >= 0.08:
        family = _BILLABLE[int(rng.integers(len(_BILLABLE)))]
    else:
        family = _UNKNOWN_KINDS[int(rng.integers(len(_UNKNOWN_KINDS)))]
    bx0, by0, bx1, by1 = dish.box()
    x0, y0 = max(int(bx0) - 3, 0), max(int(by0) - 3, 0)
    x1, y1 = min(int(bx1) + 4, w), min(int(by1) + 4, h)
    albedo = _surface(rng, dish, family, (x0, y0, x1, y1))
    gloss = float(rng.uniform(0.3, 1.5)) if rng.random() < 0.7 else 0.05
    shaded, spec, inside, r = _shade_dish(
        dish, albedo, (x0, y0), light, shininess=float(rng.uniform(20, 150)), gloss=gloss
    )
    interior = (r < 1.0 - dish.rim - 0.02).astype(np.uint8)
    food = shaded.copy()
    fmask = np.zeros(interior.shape, np.uint8)
    coverage = _food_pieces(
        rng,
        food,
        fmask,
        region=interior,
        target=float(rng.uniform(0.3, 0.9)),
        scale=min(dish.a, dish.b),
    )
    fm = (fmask[:, :, None] > 0).astype(np.float32)
    # Food sits a little above the dish: slightly darker at its edges.
    edge = cv2.morphologyEx(fmask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    food = food * (1 - 0.3 * edge[:, :, None] / 255.0)
    dish_img = shaded * (1 - fm) + food * fm
    a = inside[:, :, None]
    scene[y0:y1, x0:x1] = scene[y0:y1, x0:x1] * (1 - a) + dish_img * a
    spec_total[y0:y1, x0:x1] += spec * inside * (1 - fm[:, :, 0])
    return family, coverage


def _chopsticks(rng: np.random.Generator, scene: np.ndarray, spec_total: np.ndarray) -> None:
    h, w = scene.shape[:2]
    p0 = (int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.9) * h))
    ang = rng.uniform(0, np.pi)
    length = rng.uniform(0.4, 0.7) * w
    wood = np.array([0.75, 0.55, 0.35]) * rng.uniform(0.3, 1.2)
    tone = tuple(float(v) for v in _srgb_to_lin(np.clip(wood, 0, 1)))
    for off in (-0.012 * w, 0.012 * w):
        a0 = (int(p0[0] - np.sin(ang) * off), int(p0[1] + np.cos(ang) * off))
        a1 = (int(a0[0] + np.cos(ang) * length), int(a0[1] + np.sin(ang) * length))
        cv2.line(scene, a0, a1, tone, max(2, int(0.012 * w)), cv2.LINE_AA)
        cv2.line(spec_total, a0, a1, 0.3, 1, cv2.LINE_AA)


def _lighting(
    rng: np.random.Generator, scene: np.ndarray, spec_total: np.ndarray, azimuth: float
) -> tuple[np.ndarray, float]:
    """Radiance after light colour, spot or blinds, and the camera's white balance."""
    h, w = scene.shape[:2]
    kelvin = float(rng.uniform(3000, 6500))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        reach = 2 * (rng.uniform(0.4, 0.9) * w) ** 2
        level = 0.55 + 0.45 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / reach)
    else:
        period = rng.uniform(0.08, 0.2) * w
        phase = (xx * np.cos(azimuth) + yy * np.sin(azimuth)) / period * 2 * np.pi
        blinds = (np.sin(phase) > 0.3).astype(np.float32)
        shade = cv2.GaussianBlur(blinds, (0, 0), 0.01 * w + 1)
        level = 1.0 - rng.uniform(0.15, 0.35) * shade
    radiance = (scene + spec_total[:, :, None]) * level[:, :, None] * _light_rgb(kelvin)
    if rng.random() < 0.5:
        wb = 1.0 / _light_rgb(float(rng.uniform(5000, 6500)))  # fixed daylight balance
    else:
        mean = radiance.reshape(-1, 3).mean(axis=0)  # grey-world auto white balance
        wb = (mean.mean() / np.maximum(mean, 1e-4)) ** float(rng.uniform(0.5, 1.0))
    return (radiance * (wb / wb.max())).astype(np.float32), kelvin


def _camera(rng: np.random.Generator, radiance: np.ndarray) -> tuple[np.ndarray, float]:
    """Bayer mosaic, Poisson-Gaussian noise, demosaic, sRGB, sharpening, CA, compression."""
    fh, fw = radiance.shape[:2]
    exposure = float(rng.uniform(0.8, 1.3))
    raw = np.zeros((fh, fw), np.float32)
    raw[0::2, 0::2] = radiance[0::2, 0::2, 0]
    raw[0::2, 1::2] = radiance[0::2, 1::2, 1]
    raw[1::2, 0::2] = radiance[1::2, 0::2, 1]
    raw[1::2, 1::2] = radiance[1::2, 1::2, 2]
    photons = float(rng.uniform(300, 3000))
    raw = rng.poisson(np.clip(raw * exposure, 0, None) * photons).astype(np.float32) / photons
    raw += rng.normal(0, rng.uniform(0.002, 0.01), raw.shape).astype(np.float32)
    raw16 = np.clip(raw * 65535 / 1.2, 0, 65535).astype(np.uint16)
    # OpenCV's "BG" code is the one that reads an RGGB mosaic starting at (0, 0).
    bgr = cv2.cvtColor(raw16, cv2.COLOR_BayerBG2BGR).astype(np.float32) * (1.2 / 65535)
    brightness = float(rng.uniform(0.6, 1.4))
    enc = _lin_to_srgb(bgr) * brightness
    if rng.random() < 0.6:
        blur = cv2.GaussianBlur(enc, (0, 0), 1.0)
        enc = enc + float(rng.uniform(0.2, 0.8)) * (enc - blur)
    img = np.clip(enc * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:  # lateral chromatic aberration: red and blue scaled apart
        k = float(rng.uniform(0.001, 0.004))
        for ch, sign in ((2, 1.0), (0, -1.0)):
            m = cv2.getRotationMatrix2D((fw / 2, fh / 2), 0, 1 + sign * k)
            img[:, :, ch] = cv2.warpAffine(
                img[:, :, ch], m, (fw, fh), borderMode=cv2.BORDER_REFLECT
            )
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 96))])
    else:
        ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, int(rng.integers(60, 96))])
    if not ok:  # pragma: no cover - OpenCV encodes any valid uint8 frame
        msg = "encoding failed"
        raise RuntimeError(msg)
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8), brightness


def render_alt_tray(seed: int, size: tuple[int, int] | None = None) -> tuple[np.ndarray, TrayLabel]:
    """One tray drawn the other way: 8-bit BGR frame and its labels."""
    rng = np.random.default_rng([zlib.crc32(RENDERER.encode()), seed])
    if size is None:
        weights = np.array([p for _, p in _SIZES])
        size = _SIZES[int(rng.choice(len(_SIZES), p=weights / weights.sum()))][0]
    fw, fh = size
    work = min(1.0, _WORK_SIDE / max(fw, fh))
    w, h = round(fw * work) * 2, round(fh * work) * 2  # supersampled canvas

    scene = _background(rng, h, w)
    material, tray_tex, tray_mask = _tray(rng, h, w)
    tm = tray_mask[:, :, None].astype(np.float32) / 255.0
    scene = scene * (1 - tm) + tray_tex * tm
    spec_total = np.zeros((h, w), np.float32)
    elevation = float(rng.uniform(np.radians(35), np.radians(75)))
    azimuth = float(rng.uniform(0, 2 * np.pi))
    light = np.array(
        [
            np.cos(elevation) * np.cos(azimuth),
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
        ],
        np.float32,
    )
    if rng.random() < 0.3:
        _paper(rng, scene)

    dishes, occupied = _place(rng, tray_mask, int(rng.integers(1, 7)))
    # Soft contact shadows under the dishes, away from the light.
    shadow = cv2.GaussianBlur(occupied.astype(np.float32) / 255.0, (0, 0), max(2.0, 0.01 * w))
    shift = np.array([[1, 0, -light[0] * 0.02 * w], [0, 1, -light[1] * 0.02 * w]], dtype=np.float32)
    scene *= (1 - 0.35 * cv2.warpAffine(shadow, shift, (w, h)))[:, :, None]

    items: list[ItemLabel] = []
    to_frame = 1.0 / (2 * work)
    for dish in dishes:
        family, coverage = _draw_dish(rng, scene, spec_total, dish, light)
        bx0, by0, bx1, by1 = dish.box()
        items.append(
            ItemLabel(
                colour=family if family in _BILLABLE else UNKNOWN,
                family=family,
                shape=dish.shape,
                centre=(dish.cx * to_frame, dish.cy * to_frame),
                radius=float(np.sqrt(dish.area() / np.pi)) * to_frame,
                box=(bx0 * to_frame, by0 * to_frame, bx1 * to_frame, by1 * to_frame),
                food_coverage=coverage,
                food_layout="pieces",
            )
        )
    if rng.random() < 0.4:
        _chopsticks(rng, scene, spec_total)

    radiance, kelvin = _lighting(rng, scene, spec_total, azimuth)
    frame, brightness = _camera(rng, cv2.resize(radiance, (fw, fh), interpolation=cv2.INTER_AREA))
    label = TrayLabel(
        seed=seed,
        renderer=RENDERER,
        width=fw,
        height=fh,
        items=tuple(items),
        colour_temperature_k=kelvin,
        brightness=brightness,
        tray_material=material,
    )
    return frame, label
