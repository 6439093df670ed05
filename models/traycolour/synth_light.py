"""Light and camera for the synthetic trays: illuminant colour, exposure, noise, blur, JPEG.

The illuminant of a colour temperature is integrated from Planck's law against an analytic
fit of the CIE 1931 colour-matching functions (multi-lobe Gaussians), then taken to linear sRGB.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from models.traycolour import pixel_ops as px

# Analytic CIE 1931 2-degree observer: each lobe is (weight, mean, sigma left, sigma right), nm.
_LOBES_X = ((1.056, 599.8, 37.9, 31.0), (0.362, 442.0, 16.0, 26.7), (-0.065, 501.1, 20.4, 26.2))
_LOBES_Y = ((0.821, 568.8, 46.9, 40.5), (0.286, 530.9, 16.3, 31.1))
_LOBES_Z = ((1.217, 437.0, 11.8, 36.0), (0.681, 459.0, 26.0, 13.8))
_XYZ_TO_LINEAR_SRGB = np.array(
    [
        [3.2406, -1.5372, -0.4986],
        [-0.9689, 1.8758, 0.0415],
        [0.0557, -0.2040, 1.0570],
    ]
)


def _lobes(
    wavelength: np.ndarray, lobes: tuple[tuple[float, float, float, float], ...]
) -> np.ndarray:
    total = np.zeros_like(wavelength)
    for weight, mean, left, right in lobes:
        sigma = np.where(wavelength < mean, left, right)
        total += weight * np.exp(-0.5 * ((wavelength - mean) / sigma) ** 2)
    return total


@cache
def _illuminant_rgb_cached(kelvin_rounded: int) -> tuple[float, float, float]:
    wl = np.arange(380.0, 781.0, 5.0)
    metres = wl * 1e-9
    # Planck's law up to a constant factor; 0.014388 m*K is h*c/k.
    radiance = 1.0 / (metres**5 * (np.exp(0.014388 / (metres * kelvin_rounded)) - 1.0))
    xyz = np.array(
        [(radiance * _lobes(wl, lobes)).sum() for lobes in (_LOBES_X, _LOBES_Y, _LOBES_Z)]
    )
    rgb = _XYZ_TO_LINEAR_SRGB @ (xyz / xyz[1])
    rgb = np.clip(rgb, 1e-3, None)
    rgb = rgb / rgb[1]
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def illuminant_rgb(kelvin: float) -> np.ndarray:
    """Linear-sRGB colour of a black body at ``kelvin``, scaled so that green is 1."""
    return np.array(_illuminant_rgb_cached(round(kelvin / 10.0) * 10), dtype=np.float32)


def white_balance_gains(
    kelvin: float, camera_reference_k: float, adaptation: float, tint: float
) -> np.ndarray:
    """Per-channel gains from scene light to camera output.

    The camera is balanced for ``camera_reference_k``; its auto white balance removes the share
    ``adaptation`` (0..1) of the remaining cast. ``tint`` nudges green against magenta.
    """
    light = illuminant_rgb(kelvin)
    reference = illuminant_rgb(camera_reference_k)
    cast = light / reference
    gains = cast ** (1.0 - adaptation)
    gains = gains * np.array([1.0, 1.0 + tint, 1.0], dtype=np.float32)
    # Auto-exposure keeps the frame from clipping under a strong cast, partly: normalise by the
    # geometric mean of the largest gain and the luminance gain.
    luminance = float(gains @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32))
    return np.asarray(gains / np.sqrt(float(gains.max()) * luminance), dtype=np.float32)


def smooth_noise(
    rng: np.random.Generator, height: int, width: int, cells: float, channels: int = 1
) -> np.ndarray:
    """Band-limited noise in about -1..1 with roughly ``cells`` blobs across the larger side."""
    side = max(height, width)
    small_w = max(2, round(cells * width / side) + 1)
    small_h = max(2, round(cells * height / side) + 1)
    grid = rng.standard_normal((small_h, small_w, channels), dtype=np.float32)
    out = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    if channels == 1:
        return np.asarray(out, dtype=np.float32).reshape(height, width)
    return np.asarray(out, dtype=np.float32)


def soft_blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a uint8 mask (0..255) to 0..1 floats, done at 1/8 size for speed."""
    h, w = mask.shape
    small = cv2.resize(mask, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small.astype(np.float32) / 255.0, (0, 0), max(sigma / 8.0, 0.5))
    return np.asarray(cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def illumination_field(
    rng: np.random.Generator, height: int, width: int, light_angle: float
) -> np.ndarray:
    """Scalar light level per pixel: a gradient, vignetting and a few soft shadows.

    Everything here is smooth, so it is computed on a grid 1/8 of the frame and enlarged.
    """
    sh, sw = max(2, height // 8), max(2, width // 8)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    side = max(sw, sh)
    u = (xs - sw / 2) / side
    v = (ys - sh / 2) / side
    field = 1.0 + float(rng.uniform(0.0, 0.5)) * (np.cos(light_angle) * u + np.sin(light_angle) * v)
    vignette = float(rng.uniform(0.0, 0.9))
    field *= 1.0 - vignette * (u * u + v * v)
    field *= 1.0 + 0.06 * smooth_noise(rng, sh, sw, float(rng.uniform(2.0, 5.0)))
    for _ in range(int(rng.integers(0, 3))):
        # A blurred polygon: an arm, a lamp housing or the slot's edge shading the tray.
        shade = np.zeros((sh, sw), dtype=np.float32)
        centre = rng.uniform((0.0, 0.0), (sw, sh))
        n = int(rng.integers(3, 7))
        angles = np.sort(rng.uniform(0.0, 2 * np.pi, n))
        radii = rng.uniform(0.15, 0.6, n) * side
        pts = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)
        cv2.fillPoly(shade, [(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
        sigma = float(rng.uniform(0.02, 0.08)) * side
        soft = cv2.GaussianBlur(shade, (0, 0), max(sigma, 0.5))
        field *= 1.0 - float(rng.uniform(0.12, 0.4)) * soft
    field = np.clip(field, 0.2, 1.6).astype(np.float32)
    return np.asarray(
        cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR), np.float32
    )


def expose_and_encode(
    rng: np.random.Generator, linear: np.ndarray, brightness: float
) -> np.ndarray:
    """From white-balanced linear light to an 8-bit BGR JPEG-decoded frame.

    Applies exposure, lens blur, signal-dependent sensor noise, a tone curve and JPEG.
    ``linear`` is RGB float32, about 0..1 for a white dish under nominal light.
    """
    height, width = linear.shape[:2]
    # Part of the brightness change is exposure (linear light), the rest a gain after the tone
    # curve, so that neither reading of "brightness" is unseen.
    gamma = float(rng.uniform(1.9, 2.5))
    share = float(rng.uniform(0.0, 1.0))
    img: np.ndarray = linear * np.float32(brightness ** (gamma * share))
    sigma = float(rng.uniform(0.0, 1.3)) * max(width, height) / 640.0
    if sigma > 0.25:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    shot = float(rng.uniform(0.0, 0.012))
    read = float(rng.uniform(0.0, 0.012))
    # Luma noise per pixel, chroma noise coarser (as after demosaicing and denoising).
    luma = rng.standard_normal((height, width), dtype=np.float32)
    chroma = rng.standard_normal(((height + 1) // 2, (width + 1) // 2, 3), dtype=np.float32)
    chroma *= float(rng.uniform(0.2, 1.0))
    noise: np.ndarray = cv2.resize(chroma, (width, height))
    px.shift(noise, luma)
    img = np.maximum(img, 0.0)
    noise *= cv2.sqrt(img * shot + read * read)
    img += noise
    enc: np.ndarray = cv2.pow(np.maximum(img, 0.0), 1.0 / gamma)
    # A gentle S-curve around mid grey, as camera tone curves add.
    e = np.minimum(enc, 1.0)
    enc += float(rng.uniform(-0.15, 0.25)) * e * (1.0 - e) * (2.0 * e - 1.0)
    gain = 255.0 * brightness ** (1.0 - share)
    rgb8 = cv2.convertScaleAbs(enc, alpha=gain)
    bgr = cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR)
    quality = int(rng.integers(35, 96))
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 frame
        msg = "JPEG encoding failed"
        raise RuntimeError(msg)
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), dtype=np.uint8)
