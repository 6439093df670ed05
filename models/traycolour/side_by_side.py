"""Two pieces of work at once, one of them in a forked process: how ``build`` trains its two
networks together.

Why: on two cores, each network's training gains little from a second thread (the first
network ran 1.33 times as fast on two threads as on one, the crop classifier 1.56 times), so
training the first network on one core while the crop classifier trains on the other, and
giving the crop classifier both cores once the first is done, finishes sooner than training
one after the other on two threads each.

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

#: How long ``side_by_side`` waits for the child at a time, once its own work is done.
_WAIT_S = 1.0


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
    beside: Callable[[], _Beside], here: Callable[[Callable[[], bool]], _Here]
) -> tuple[_Beside, _Here]:
    """Run ``beside`` in a forked child process and ``here`` in this one, at the same time,
    and return both results.

    ``here`` is called with ``finished``: a function, cheap to call often, that says whether
    ``beside`` has finished, so that ``here`` can take over the child's core. If ``beside``
    raised or its process died, ``finished`` raises ``BesideFailed`` (which stops ``here``
    where it calls it); so does this function once ``here`` returns. Should ``here`` raise,
    the child is stopped.
    """
    context = mp.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run_child, args=(beside, send), name="beside", daemon=True)
    child.start()
    send.close()  # the child holds the other end; the pipe reads as closed once it exits
    outcome: list[tuple[bool, object]] = []

    def finished() -> bool:
        if not outcome:
            if not receive.poll():
                return False
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
        return True

    try:
        result_here = here(finished)
        while not finished():
            receive.poll(_WAIT_S)
        child.join()
    finally:
        receive.close()
        if child.is_alive():
            child.terminate()
            child.join()
    return outcome[0][1], result_here  # type: ignore[return-value]
