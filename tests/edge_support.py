"""Edge agents for tests that are never connected: what a box records is read back from its
outbox, which is exactly what it would publish."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.agent import EdgeAgent
from edge.config import load_config
from edge.outbox import Lane, Outbox
from wire import Event, decode_device_message


def unconnected_agent(
    root: Path, device_id: str, kind: str, *, site: str = "towers", **sections: Any
) -> EdgeAgent:
    """An agent of ``kind`` at ``site`` whose outbox and state live in ``root / device_id``
    (the same ``device_id`` reopens the same box); ``sections`` are more of its config."""
    config = load_config(
        None,
        device={"id": device_id, "kind": kind, "site": site},
        outbox={"path": root / device_id / "outbox.sqlite"},
        state_dir=root / device_id,
        **sections,
    )
    return EdgeAgent(config)


#: Makes an ``unconnected_agent``: ``make(root, device_id, kind, **keywords)``.
MakeAgent = Callable[..., EdgeAgent]


@contextmanager
def unconnected_agents() -> Iterator[MakeAgent]:
    """A maker of ``unconnected_agent``s whose outboxes are closed when the block ends."""
    made: list[EdgeAgent] = []

    def make(root: Path, device_id: str, kind: str, **keywords: Any) -> EdgeAgent:
        agent = unconnected_agent(root, device_id, kind, **keywords)
        made.append(agent)
        return agent

    try:
        yield make
    finally:
        for agent in made:
            agent.outbox.close()


def outbox_events(outbox: Outbox) -> list[tuple[Lane, Event]]:
    """Every event waiting in ``outbox``, in order, with its lane; the outbox is left as it
    was (rewound), so nothing counts as sent."""
    events = []
    for item in outbox.take(100_000):
        message = decode_device_message(item.topic, item.payload)
        if isinstance(message, Event):
            events.append((item.lane, message))
    outbox.rewind()
    return events
