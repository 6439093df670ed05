"""Checkout pipelines on unconnected agents, for tests: what a pipeline records is read
back from its outbox, which is exactly what the box would publish."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from edge.checkout.frames import FolderSource, Frame
from edge.checkout.pipeline import CheckoutPipeline
from edge.checkout.prices import PriceTable, load_price_table
from edge.outbox import Lane
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer
from models.traycolour.selftest import selftest_path
from tests.edge_support import outbox_events, unconnected_agents
from wire import Event

ROOT = Path(__file__).resolve().parents[1]
PRICES = ROOT / "docs" / "prices.example.toml"

MakePipeline = Callable[..., CheckoutPipeline]


def tianshan(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``tianshan`` command in a child process, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "tianshan", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def copy_pair(to: Path, *, with_self_test: bool = True) -> Path:
    """The committed model pair (and its self-test) copied into ``to``; its first file."""
    for f in DEFAULT_MODEL_PATH.parent.glob("traycolour*.onnx*"):
        shutil.copy(f, to / f.name)
    if with_self_test:
        shutil.copy(selftest_path(DEFAULT_MODEL_PATH), to)
    return to / DEFAULT_MODEL_PATH.name


def rewrite_self_test(path: Path, change: dict[str, np.ndarray]) -> None:
    """Replace some of the arrays of the self-test file at ``path``."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(change)
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)


def pair_failing_self_test(to: Path) -> Path:
    """A copy of the committed pair whose self-test expects another heat map, as if the
    pair had been built on a CPU that computes differently: it fails here."""
    model = copy_pair(to)
    with np.load(selftest_path(model)) as z:
        heat = z["heat0"]
    rewrite_self_test(selftest_path(model), {"heat0": heat + 0.01})
    return model


class NoFrames:
    """A source with nothing to give: the test feeds ``process`` itself."""

    def frames(self) -> Iterator[Frame]:
        return iter(())

    def close(self) -> None:
        pass

    def no_frames_since(self) -> float | None:
        return None


@contextmanager
def pipelines(root: Path, recognizer: TrayRecognizer) -> Iterator[MakePipeline]:
    """Make pipelines under ``root``; the same ``name`` reopens the same box."""
    with unconnected_agents() as new_agent:

        def make(
            name: str = "co-1", prices: PriceTable | None = None, folder: Path | None = None
        ) -> CheckoutPipeline:
            agent = new_agent(root, name, "checkout", site="canteen", checkout={"kiosk_port": 0})
            config = agent.config
            assert config.checkout is not None
            return CheckoutPipeline(
                agent,
                config.checkout,
                source=FolderSource(folder, fps=0) if folder else NoFrames(),
                recognizer=recognizer,
                prices=prices if prices is not None else load_price_table(PRICES),
                state_dir=config.state_dir,
            )

        yield make


def recorded(pipeline: CheckoutPipeline, kind: str) -> list[Event]:
    """Events of ``kind`` in the box's outbox, in order; all in the transaction lane."""
    events = []
    for lane, event in outbox_events(pipeline.agent.outbox):
        if event.type == kind:
            assert lane is Lane.TRANSACTION
            events.append(event)
    return events
