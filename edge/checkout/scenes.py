"""Replay folders for the checkout camera: trays slide in, rest, slide out.

The camera is the one piece of checkout hardware we do not have, so tests, the
simulator and the demo feed the pipeline a folder of frames instead (see
:class:`edge.checkout.frames.FolderSource`). Each tray is a synthetic tray from the
model's generator (:func:`models.traycolour.synth.render_tray`), seen over one fixed
empty slot with sensor noise on every frame. ``truth.json`` beside the frames says
which tray rests in which frames and what is on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from models.traycolour.synth import render_tray

TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class SceneTray:
    seed: int
    colours: list[str]  # as drawn; an unknown kind is "unknown"
    rest_first: int  # first frame with the tray at rest
    rest_last: int


def empty_slot(size: tuple[int, int], seed: int) -> np.ndarray:
    """A dark counter with a soft light gradient: what the camera sees with no tray."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = rng.uniform(40, 70)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    gradient = 12 * (xs / width) + 8 * (ys / height)
    grey = base + gradient + rng.normal(0, 3, (height, width)).astype(np.float32)
    tint = np.array([1.0, 0.98, 0.95], np.float32)  # a faintly warm counter top
    image = np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)
    return np.asarray(cv2.GaussianBlur(image, (5, 5), 0))


def _with_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noise = rng.normal(0, sigma, image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def _slid(slot: np.ndarray, tray: np.ndarray, share: float) -> np.ndarray:
    """``share`` of the tray frame has come in from the right over the slot."""
    width = slot.shape[1]
    shown = round(width * share)
    out = slot.copy()
    if shown > 0:
        out[:, width - shown :] = tray[:, :shown]
    return out


def scene_frames(
    seeds: Iterable[int],
    *,
    size: tuple[int, int] = (640, 480),
    empty: int = 4,
    moving: int = 3,
    resting: int = 6,
    noise: float = 2.0,
    scene_seed: int = 0,
) -> Iterator[tuple[np.ndarray, SceneTray | None]]:
    """Frames in order, each with the tray resting in it (None while none rests).
    The scene starts and ends with an empty slot."""
    rng = np.random.default_rng(scene_seed)
    slot = empty_slot(size, scene_seed)
    for _ in range(empty):
        yield _with_noise(slot, rng, noise), None
    index = empty
    for seed in seeds:
        tray, label = render_tray(seed, size=size)
        if tray.shape[:2] != slot.shape[:2]:
            tray = cv2.resize(tray, size, interpolation=cv2.INTER_AREA)
        for step in range(1, moving + 1):
            yield _with_noise(_slid(slot, tray, step / (moving + 1)), rng, noise), None
        index += moving
        info = SceneTray(
            seed=seed,
            colours=[item.colour for item in label.items],
            rest_first=index,
            rest_last=index + resting - 1,
        )
        for _ in range(resting):
            yield _with_noise(tray, rng, noise), info
        index += resting
        for step in range(moving, 0, -1):
            yield _with_noise(_slid(slot, tray, step / (moving + 1)), rng, noise), None
        index += moving
        for _ in range(empty):
            yield _with_noise(slot, rng, noise), None
        index += empty


def write_scene(
    folder: Path,
    seeds: Iterable[int],
    *,
    size: tuple[int, int] = (640, 480),
    resting: int = 6,
    scene_seed: int = 0,
) -> list[SceneTray]:
    """Write the frames as ``000000.jpg``… and ``truth.json``; returns the trays."""
    folder.mkdir(parents=True, exist_ok=True)
    trays: dict[int, SceneTray] = {}
    frames = scene_frames(seeds, size=size, resting=resting, scene_seed=scene_seed)
    for index, (image, tray) in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:06d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if tray is not None:
            trays[tray.rest_first] = tray
    listed = list(trays.values())
    (folder / TRUTH_FILE).write_text(json.dumps([asdict(t) for t in listed], indent=1))
    return listed


def read_truth(folder: Path) -> list[SceneTray]:
    return [SceneTray(**t) for t in json.loads((folder / TRUTH_FILE).read_text())]
