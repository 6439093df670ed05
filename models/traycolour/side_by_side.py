"""Two pieces of work at once, one of them in a forked process: how ``build`` trains its two
networks together.

Why: on two cores neither network's training runs twice as fast on two threads as on one
(this AMD EPYC, whole builds: the first network 226 ms a step on two threads against 370 ms on
one, the crop classifier 79 against 131 ms), so one thread per core, one network each, wastes
less; the crop classifier takes both cores once the first network is done. Measured in one
session: training 15.0 and 15.5 min side by side against 16.9 min one after the other, and the
build to the written pair 26.4 and 26.7 against 28.0 min (MODEL_CARD.md, "How to retrain").

The work ``beside`` runs in a child process made by ``fork``, so it sees this process's arrays
without copying them, and sends its result back pickled. Fork before this process starts any
thread pool of its own (torch's, onnxruntime's): a forked child inherits a pool's state but
not its threads.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import traceback
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

_Beside = TypeVar("_Beside")
_Here = TypeVar("_Here")


class BesideFailed(RuntimeError):
    """The work in the child process raised, or the child stopped without a result."""


def _run_child(work: Callable[[], object], send: Connection) -> None:
    try:
        payload = pickle.dumps((True, work()))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        payload = pickle.dumps((False, "".join(traceback.format_exception(exc))))
    send.send_bytes(payload)
    send.close()


def side_by_side(
    beside: Callable[[], _Beside], here: Callable[[Callable[[], None]], _Here]
) -> tuple[_Beside, _Here]:
    """Run ``beside`` in a forked child process and ``here`` in this one, at the same time,
    and return both results.

    ``here`` is called with ``wait``: a function that returns once ``beside`` has finished,
    so that ``here`` can take over the child's core at a point of its own choosing. If
    ``beside`` raised or its process died, ``wait`` raises ``BesideFailed`` (which stops
    ``here`` there); so does this function once ``here`` returns. Should ``here`` raise, the
    child is stopped.
    """
    context = mp.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run_child, args=(beside, send), name="beside", daemon=True)
    child.start()
    send.close()  # the child holds the other end; the pipe reads as closed once it exits
    outcome: list[tuple[bool, object]] = []

    def wait() -> None:
        if not outcome:
            try:
                outcome.append(pickle.loads(receive.recv_bytes()))  # noqa: S301 - our child
            except EOFError:
                child.join()
                msg = f"the process beside stopped without a result (exit code {child.exitcode})"
                raise BesideFailed(msg) from None
        ok, value = outcome[0]
        if not ok:
            msg = f"the work beside failed:\n{value}"
            raise BesideFailed(msg)

    try:
        result_here = here(wait)
        wait()
        child.join()
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
            child.join()
    return outcome[0][1], result_here  # type: ignore[return-value]
