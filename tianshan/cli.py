"""``tianshan``: one command, a subcommand per thing a person does.

Each subcommand's arguments and runner live beside the code it runs; heavy modules
are imported only by the subcommand that needs them, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tianshan.logs import setup_logging

Runner = Callable[[argparse.Namespace], int]


def _commands() -> list[tuple[str, str, Callable[[argparse.ArgumentParser], Runner]]]:
    from cloud import cli as cloud_cli
    from edge import cli as edge_cli
    from edge.checkout import cli as checkout_cli
    from provisioning import cli as provision_cli
    from tianshan import demo

    return [
        (
            "demo",
            "run the whole platform locally: broker, InfluxDB, cloud, ingest, a simulated fleet",
            demo.add_arguments,
        ),
        ("cloud", "run the cloud API (FastAPI + uvicorn)", cloud_cli.add_cloud_arguments),
        ("ingest", "run an ingest worker: MQTT → InfluxDB and SQL", cloud_cli.add_ingest_arguments),
        (
            "token",
            "create, list and revoke API tokens (straight in the SQL database)",
            cloud_cli.add_token_arguments,
        ),
        (
            "provision",
            "register boxes (claim tokens, QR codes), fleet view, revoke, push configs, the CA",
            provision_cli.add_arguments,
        ),
        ("edge", "run the edge agent of one box", edge_cli.add_edge_arguments),
        ("sim", "run N simulated devices through the real edge agent", edge_cli.add_sim_arguments),
        (
            "checkout",
            "the tray-colour self-checkout: recognise and bill tray images",
            checkout_cli.add_checkout_arguments,
        ),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tianshan",
        description="Tianshan: edge agents, MQTT, cloud ingest and API for a community "
        "canteen and the buildings around it.",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default: INFO",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, summary, add_arguments in _commands():
        command = sub.add_parser(
            name, help=summary, description=summary[0].upper() + summary[1:] + "."
        )
        command.set_defaults(run=add_arguments(command))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    runner: Runner = args.run
    try:
        return runner(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
