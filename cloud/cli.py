"""``tianshan cloud`` and ``tianshan ingest``."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SETTINGS_HELP = "settings (TOML); TIANSHAN_CLOUD__* variables override it"


def add_cloud_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--config", type=Path, metavar="FILE", help=SETTINGS_HELP)
    parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default 8000)")
    return run_cloud


def _settings(args: argparse.Namespace, **overrides: object) -> object:
    from pydantic import ValidationError

    from cloud.config import ConfigFileError, load_settings

    try:
        return load_settings(args.config, **overrides)
    except (ConfigFileError, ValidationError) as exc:
        print(f"tianshan {args.command}: bad settings: {exc}", file=sys.stderr)
        return None


def run_cloud(args: argparse.Namespace) -> int:
    import uvicorn

    from cloud.api.app import create_app
    from cloud.config import CloudSettings

    http = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = _settings(args)
    if not isinstance(settings, CloudSettings):
        return 2
    if http:
        settings = settings.model_copy(update={"http": settings.http.model_copy(update=http)})
    uvicorn.run(
        create_app(settings),
        host=settings.http.host,
        port=settings.http.port,
        log_level=logging.getLevelName(logging.getLogger().level).lower(),
    )
    return 0


def add_ingest_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--config", type=Path, metavar="FILE", help=SETTINGS_HELP)
    parser.add_argument(
        "--name",
        help="worker name, stable across restarts and distinct per "
        "worker (the broker keeps its queue under it; default: host name)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve this worker's Prometheus metrics on PORT",
    )
    parser.add_argument(
        "--retire",
        action="store_true",
        help="take this worker out of its share group for good: ingest what the broker "
        "queued for it, remove its session, exit (Mosquitto keeps giving an offline "
        "member its share)",
    )
    return run_ingest


def run_ingest(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from cloud.config import CloudSettings
    from cloud.ingest.worker import IngestWorker

    settings = _settings(args)
    if not isinstance(settings, CloudSettings):
        return 2
    ingest = settings.ingest.model_copy(
        update={
            k: v
            for k, v in (("worker_name", args.name), ("metrics_port", args.metrics_port))
            if v is not None
        }
    )
    settings = settings.model_copy(update={"ingest": ingest})
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = IngestWorker(settings)
    # The ingest allocates a few objects per message and keeps none in cycles, yet the
    # default collector thresholds make it walk every pending message again and again:
    # measured, that cost a third of the throughput. Collect far less often, and never
    # walk what start-up loaded.
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()
    if ingest.metrics_port:
        start_http_server(ingest.metrics_port, addr="127.0.0.1", registry=worker.metrics.registry)
        log.info("ingest metrics on http://127.0.0.1:%d/metrics", ingest.metrics_port)
    worker.start()
    if args.retire:
        drained = worker.retire()
        print(f"ingest worker {ingest.worker_name} retired: {drained} queued messages ingested")
        return 0
    stop.wait()
    log.info("ingest stopping: finishing the current batch")
    worker.stop()
    return 0


def add_token_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    parser.add_argument("--config", type=Path, metavar="FILE", help=SETTINGS_HELP)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create a token and print it (shown once)")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument(
        "--role", required=True, choices=["operator", "fire_team", "station", "viewer"]
    )
    create.add_argument("--station", help="the station a station token acts for")
    sub.add_parser("list", help="list tokens (never their secrets)")
    revoke = sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id", type=int)
    return run_token


def run_token(args: argparse.Namespace) -> int:
    """Straight to the SQL database: how the first operator token comes to exist."""
    from cloud.config import CloudSettings
    from cloud.storage import tokens
    from cloud.storage.sql import make_engine, writer_factory

    settings = _settings(args)
    if not isinstance(settings, CloudSettings):
        return 2
    engine = make_engine(settings.sql.url)
    try:
        with writer_factory(engine).begin() as session:
            if args.action == "create":
                try:
                    row, secret = tokens.create_token(
                        session,
                        name=args.name,
                        role=tokens.Role(args.role),
                        station_id=args.station,
                        created_by="cli",
                    )
                except ValueError as exc:
                    print(f"tianshan token: {exc}", file=sys.stderr)
                    return 2
                print(secret)
                print(
                    f"token {row.id} ({row.role} {row.name}) created; the secret above is "
                    "shown only now",
                    file=sys.stderr,
                )
            elif args.action == "list":
                for t in tokens.list_tokens(session):
                    state = "revoked" if t.revoked_at else "live"
                    station = f" station={t.station_id}" if t.station_id else ""
                    print(f"{t.id}\t{t.role}\t{t.name}{station}\t{state}")
            elif not tokens.revoke_token(session, token_id=args.token_id):
                print(f"tianshan token: no live token {args.token_id}", file=sys.stderr)
                return 1
    finally:
        engine.dispose()
    return 0
