"""Logging for every Tianshan process: one format, quiet third-party chatter."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # httpx logs every request at INFO; uvicorn's access log is enough for HTTP.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # pymodbus logs an error for every silent detector on every poll; the fire pipeline
    # reports communication loss itself, once, as a trouble.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
