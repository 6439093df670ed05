"""``side_by_side``: how ``build`` trains its two networks at once, one in a forked process."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import TYPE_CHECKING

import numpy as np
import pytest

from models.traycolour.side_by_side import BesideFailed, side_by_side

if TYPE_CHECKING:
    from collections.abc import Callable

#: Long enough for a loaded CI machine to fork and run a child; a passing test waits less.
PATIENCE_S = 30.0


def test_both_results_come_back_and_wait_returns_when_the_child_is_done() -> None:
    data = np.arange(1_000_000, dtype=np.int64)  # the child sees it without a copy (fork)
    go = mp.get_context("fork").Event()
    done = mp.get_context("fork").Event()

    def beside() -> tuple[int, int]:
        assert go.wait(PATIENCE_S)
        time.sleep(0.3)  # a wait that did not wait would see ``done`` unset
        done.set()
        return int(data.sum()), os.getpid()

    seen: list[bool] = []

    def here(wait: Callable[[], None]) -> str:
        go.set()
        wait()
        seen.append(done.is_set())
        wait()  # again: it returns at once
        return "here"

    (total, pid), mine = side_by_side(beside, here)
    assert total == int(data.sum())
    assert pid != os.getpid()
    assert mine == "here"
    assert seen == [True]


def test_an_error_in_the_child_reaches_wait_with_its_traceback() -> None:
    def beside() -> int:
        msg = "no training trays"
        raise ValueError(msg)

    reached: list[str] = []

    def here(wait: Callable[[], None]) -> None:
        reached.append("before")
        wait()
        reached.append("after")

    with pytest.raises(BesideFailed, match=r"(?s)failed:.*ValueError: no training trays"):
        side_by_side(beside, here)
    assert reached == ["before"]


def test_an_error_in_the_child_is_raised_after_here_even_if_here_never_waits() -> None:
    def beside() -> int:
        msg = "out of memory"
        raise MemoryError(msg)

    with pytest.raises(BesideFailed, match="MemoryError: out of memory"):
        side_by_side(beside, lambda _wait: "here")


def test_a_child_that_dies_without_a_result_is_reported_with_its_exit_code() -> None:
    def beside() -> int:
        os._exit(3)

    with pytest.raises(BesideFailed, match="stopped without a result \\(exit code 3\\)"):
        side_by_side(beside, lambda _wait: None)


def test_a_failure_here_stops_the_child() -> None:
    def beside() -> None:
        time.sleep(3600)

    def here(_wait: Callable[[], None]) -> None:
        msg = "crop training failed"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="crop training failed"):
        side_by_side(beside, here)
    assert [p.name for p in mp.active_children()] == []
