"""Training and validation arrays: rendered trays, letterboxed, with per-cell targets.

Rendering runs in worker processes; each tray depends only on its seed, so the arrays are the
same whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import multiprocessing.pool
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np

from models.traycolour.crop_samples import CropSamples, kind_index, tray_samples
from models.traycolour.palette import LABELS, SEG_BACKGROUND
from models.traycolour.preprocess import (
    GRID_HEIGHT,
    GRID_WIDTH,
    INPUT_HEIGHT,
    INPUT_WIDTH,
    STRIDE,
    letterbox,
    letterbox_classes,
)
from models.traycolour.synth import RenderOptions, render_tray_with_classes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

_Job = TypeVar("_Job")
_Result = TypeVar("_Result")


@dataclass(frozen=True)
class TrayArrays:
    """Network inputs and the ground truth they are trained against."""

    images: np.ndarray  # N x H x W x 3 uint8, BGR, letterboxed
    classes: np.ndarray  # N x GH x GW uint8, palette.SEG_*
    #: Per tray, K x 7 float32: cx, cy, w, h (input pixels), label index, radius (input pixels),
    #: kind index (``crop_samples.KINDS``).
    boxes: list[np.ndarray]
    #: Samples of the crop classifier cut from the full-resolution frames, when asked for.
    crops: CropSamples | None = None


_Rendered = tuple[np.ndarray, np.ndarray, np.ndarray, CropSamples | None]


def _one(args: tuple[int, RenderOptions, bool]) -> _Rendered:
    seed, options, want_crops = args
    frame, label, classes = render_tray_with_classes(seed, options)
    canvas, box = letterbox(frame)
    cells = letterbox_classes(classes, box, SEG_BACKGROUND)
    rows = []
    for item in label.items:
        cx, cy = box.to_input(*item.centre)
        x0, y0, x1, y1 = item.box
        w, h = (x1 - x0) * box.scale, (y1 - y0) * box.scale
        rows.append(
            (
                cx,
                cy,
                w,
                h,
                LABELS.index(item.colour),
                item.radius * box.scale,
                kind_index(item.family),
            )
        )
    rows_array = np.array(rows, dtype=np.float32).reshape(-1, 7)
    samples = None
    if want_crops:
        # Its own stream, so that the crops do not change the tray.
        rng = np.random.default_rng([seed, 0xC0])
        decoys = np.array(
            [
                (
                    *box.to_input((x0 + x1) / 2, (y0 + y1) / 2),
                    (x1 - x0) * box.scale,
                    (y1 - y0) * box.scale,
                )
                for x0, y0, x1, y1 in label.decoys
            ],
            np.float32,
        ).reshape(-1, 4)
        samples = tray_samples(
            frame, canvas=canvas, cells=cells, box=box, rows=rows_array, rng=rng, decoys=decoys
        )
    return canvas, cells, rows_array, samples


def init_render_worker() -> None:
    """Set up a rendering process: one OpenCV thread, and malloc that keeps freed memory.

    The renderer allocates and frees many frame-sized temporaries; glibc's default hands each
    back to the kernel and faults it in again, which cost about a tenth of the time here.
    """
    cv2.setNumThreads(1)
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: the defaults are fine, only slower
        pass


def rendering_pool(workers: int) -> multiprocessing.pool.Pool:
    """``workers`` rendering processes (``init_render_worker``), forked from a fresh server
    process rather than from this one. A process whose OpenCV has run a parallel loop (an
    area resize of a large frame: the model's self-test does one when a recogniser loads)
    leaves the children forked from it hanging in their first OpenCV call; so may one
    holding onnxruntime threads. The jobs' function must be importable, not a closure."""
    return mp.get_context("forkserver").Pool(workers, initializer=init_render_worker)


def map_rendering(
    function: Callable[[_Job], _Result],
    jobs: Sequence[_Job],
    workers: int,
    chunksize: int = 8,
    label: str | None = None,
) -> list[_Result]:
    """``function`` over ``jobs`` in order: in this process for one worker, else in
    ``workers`` rendering processes (``rendering_pool``). With ``label``, a progress line on
    standard output."""
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            results: Iterator[_Result] = map(function, jobs)
        else:
            pool = stack.enter_context(rendering_pool(workers))
            results = pool.imap(function, jobs, chunksize=chunksize)
        done: list[_Result] = []
        start, n = time.monotonic(), len(jobs)
        for result in results:
            done.append(result)
            if label is not None and (len(done) % 250 == 0 or len(done) == n):
                rate = len(done) / max(time.monotonic() - start, 1e-6)
                sys.stdout.write(f"\r  {label}: {len(done)}/{n} ({rate:.0f}/s)")
                if len(done) == n:
                    sys.stdout.write("\n")
                sys.stdout.flush()
        return done


def render_arrays(
    seeds: Sequence[int],
    options: RenderOptions,
    workers: int = 2,
    label: str = "trays",
    *,
    crops: bool = False,
) -> TrayArrays:
    """Render ``seeds`` with ``options`` in ``workers`` processes, with a progress line; with
    ``crops``, cut the crop classifier's samples from the full-resolution frames too."""
    n = len(seeds)
    images = np.empty((n, INPUT_HEIGHT, INPUT_WIDTH, 3), dtype=np.uint8)
    classes = np.empty((n, GRID_HEIGHT, GRID_WIDTH), dtype=np.uint8)
    boxes: list[np.ndarray] = []
    samples: list[CropSamples] = []
    start = time.monotonic()
    jobs = [(int(s), options, crops) for s in seeds]
    # One worker: in this process.
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            results: Iterator[_Rendered] = map(_one, jobs)
        else:
            pool = stack.enter_context(rendering_pool(workers))
            results = pool.imap(_one, jobs, chunksize=16)
        for i, (canvas, cells, rows, tray_crops) in enumerate(results):
            images[i] = canvas
            classes[i] = cells
            boxes.append(rows)
            if tray_crops is not None:
                samples.append(tray_crops)
            if (i + 1) % 500 == 0 or i + 1 == n:
                rate = (i + 1) / max(time.monotonic() - start, 1e-6)
                sys.stdout.write(f"\r  rendering {label}: {i + 1}/{n} ({rate:.0f}/s)")
                sys.stdout.flush()
    sys.stdout.write("\n")
    return TrayArrays(images, classes, boxes, CropSamples.join(samples) if samples else None)


@dataclass(frozen=True)
class Targets:
    """Per-cell regression targets of a batch."""

    heat: np.ndarray  # B x 1 x GH x GW, Gaussian peaks at dish centres
    geometry: np.ndarray  # B x 4 x GH x GW: log w, log h (cells), offset x, offset y
    weight: np.ndarray  # B x 1 x GH x GW, 1 at the centre cells, 0 elsewhere


def make_targets(boxes: Sequence[np.ndarray]) -> Targets:
    """Centre heat maps, sizes and sub-cell offsets for a batch of trays."""
    b = len(boxes)
    heat = np.zeros((b, 1, GRID_HEIGHT, GRID_WIDTH), dtype=np.float32)
    geometry = np.zeros((b, 4, GRID_HEIGHT, GRID_WIDTH), dtype=np.float32)
    weight = np.zeros((b, 1, GRID_HEIGHT, GRID_WIDTH), dtype=np.float32)
    gy, gx = np.mgrid[0:GRID_HEIGHT, 0:GRID_WIDTH].astype(np.float32)
    for i, rows in enumerate(boxes):
        for cx, cy, w, h in rows[:, :4]:
            # Cell j's centre is input pixel STRIDE * (j + 0.5).
            u, v = cx / STRIDE - 0.5, cy / STRIDE - 0.5
            ju, jv = round(u), round(v)
            if not (0 <= ju < GRID_WIDTH and 0 <= jv < GRID_HEIGHT):
                continue
            sigma = max(0.8, min(w, h) / STRIDE / 12.0)
            g = np.exp(-((gx - u) ** 2 + (gy - v) ** 2) / (2 * sigma * sigma))
            heat[i, 0] = np.maximum(heat[i, 0], g)
            heat[i, 0, jv, ju] = 1.0
            geometry[i, :, jv, ju] = (np.log(w / STRIDE), np.log(h / STRIDE), u - ju, v - jv)
            weight[i, 0, jv, ju] = 1.0
    return Targets(heat, geometry, weight)


def flip_batch(
    images: np.ndarray,
    classes: np.ndarray,
    boxes: list[np.ndarray],
    horizontal: bool,
    vertical: bool,
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Mirror a batch; a tray seen from straight above looks as plausible either way round."""
    out_boxes = [rows.copy() for rows in boxes]
    if horizontal:
        images, classes = images[:, :, ::-1], classes[:, :, ::-1]
        for rows in out_boxes:
            rows[:, 0] = INPUT_WIDTH - rows[:, 0]
    if vertical:
        images, classes = images[:, ::-1], classes[:, ::-1]
        for rows in out_boxes:
            rows[:, 1] = INPUT_HEIGHT - rows[:, 1]
    return np.ascontiguousarray(images), np.ascontiguousarray(classes), out_boxes
