"""``tianshan provision``: register boxes (claim token as text and QR code), the fleet
view, revocation, config push, bulk registration from CSV, and the project's CA."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

KINDS = ("checkout", "fire", "parking")


def add_arguments(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    from provisioning.client import CLOUD_ENV, DEFAULT_CLOUD, TOKEN_ENV

    cloud = argparse.ArgumentParser(add_help=False)
    cloud.add_argument(
        "--cloud",
        default=os.environ.get(CLOUD_ENV, DEFAULT_CLOUD),
        metavar="URL",
        help=f"the cloud API (default: ${CLOUD_ENV} or {DEFAULT_CLOUD})",
    )
    cloud.add_argument(
        "--token",
        default=None,
        metavar="API_TOKEN",
        help=f"an operator's API token (default: ${TOKEN_ENV})",
    )
    sub = parser.add_subparsers(dest="provision_command", metavar="ACTION", required=True)

    box = sub.add_parser("box", parents=[cloud], help="register a box and print its claim token")
    box.add_argument("--site", required=True)
    box.add_argument("--kind", required=True, choices=KINDS)
    box.add_argument("--name", help="a label for people (default: the device id)")
    box.add_argument("--id", dest="device_id", help="device id (default: KIND-XXXXXXXX)")
    box.add_argument(
        "--qr-png", type=Path, metavar="FILE", help="default: claim-DEVICE.png here (mode 0600)"
    )

    bulk = sub.add_parser(
        "bulk", parents=[cloud], help="register the boxes of a CSV (site,kind[,name,device_id])"
    )
    bulk.add_argument("csv", type=Path)
    bulk.add_argument(
        "--out",
        type=Path,
        default=Path("claims"),
        help="claims.csv and one QR PNG per box go here (default ./claims)",
    )

    listing = sub.add_parser("list", parents=[cloud], help="the fleet: state, versions, drift")
    listing.add_argument("--site")
    listing.add_argument("--json", action="store_true", help="the API's JSON instead of a table")

    revoke = sub.add_parser(
        "revoke", parents=[cloud], help="disable a box's broker account and disconnect it"
    )
    revoke.add_argument("device")

    token = sub.add_parser("token", parents=[cloud], help="a new claim token for a registered box")
    token.add_argument("device")
    token.add_argument("--qr-png", type=Path, metavar="FILE")

    push = sub.add_parser(
        "push-config", parents=[cloud], help="push the next config version to a box"
    )
    push.add_argument("device")
    push.add_argument(
        "--file",
        type=Path,
        required=True,
        help="the settings (JSON or TOML): telemetry, heartbeat, checkout.prices, fire…",
    )

    ca = sub.add_parser("ca", help="create the project's CA (ca.pem, ca.key)")
    ca.add_argument("--dir", type=Path, default=Path("pki"), help="default ./pki")
    ca.add_argument("--name", default="Tianshan CA")
    ca.add_argument("--days", type=int, default=3650)
    ca.add_argument("--force", action="store_true", help="replace existing files")

    server = sub.add_parser("server-cert", help="a broker certificate signed by the CA")
    server.add_argument("--dir", type=Path, default=Path("pki"), help="where ca.pem/ca.key are")
    server.add_argument(
        "--host", action="append", required=True, help="host name or address (repeat)"
    )
    server.add_argument("--name", default="server", help="file names NAME.pem, NAME.key")
    server.add_argument("--days", type=int, default=825)
    server.add_argument("--force", action="store_true")

    client = sub.add_parser("client-cert", help="a client certificate for mutual TLS")
    client.add_argument("--dir", type=Path, default=Path("pki"), help="where ca.pem/ca.key are")
    client.add_argument("--device", required=True, help="the certificate's common name")
    client.add_argument("--days", type=int, default=825)
    client.add_argument("--force", action="store_true")
    return run


def _fail(message: str, code: int = 1) -> int:
    print(f"tianshan provision: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from provisioning.client import CloudError
    from provisioning.pki import PkiError

    action: str = args.provision_command
    try:
        if action in ("ca", "server-cert", "client-cert"):
            return _run_pki(args)
        return _run_cloud(args)
    except CloudError as exc:
        return _fail(str(exc))
    except PkiError as exc:
        return _fail(str(exc))


def _client(args: argparse.Namespace) -> Any:
    from provisioning.client import TOKEN_ENV, CloudClient, CloudError

    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CloudError(f"no API token: pass --token or set {TOKEN_ENV} (an operator's token)")
    return CloudClient(args.cloud, token)


def _show_claim(cloud: str, device_id: str, token: str, expires: str, png: Path | None) -> None:
    from provisioning.qr import claim_qr, terminal_text, write_png

    qr = claim_qr(cloud, token)
    path = write_png(qr, png or Path(f"claim-{device_id}.png"))
    print(f"device:      {device_id}")
    print(f"claim token: {token}")
    print(f"expires:     {expires}  (one use)")
    print(f"on the box:  tianshan edge claim --cloud {cloud} --token {token}")
    print(terminal_text(qr), end="")
    print(f"QR code:     {path}")


def _run_cloud(args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[argparse.Namespace, Any], int]] = {
        "box": _box,
        "token": _token,
        "list": _list,
        "revoke": _revoke,
        "push-config": _push_config,
        "bulk": _run_bulk,
    }
    with _client(args) as client:
        return actions[args.provision_command](args, client)


def _box(args: argparse.Namespace, client: Any) -> int:
    made = client.register(kind=args.kind, site=args.site, name=args.name, device_id=args.device_id)
    _show_claim(
        client.base_url, made["device_id"], made["claim_token"], made["expires_at"], args.qr_png
    )
    return 0


def _token(args: argparse.Namespace, client: Any) -> int:
    made = client.new_claim_token(args.device)
    _show_claim(client.base_url, args.device, made["claim_token"], made["expires_at"], args.qr_png)
    return 0


def _list(args: argparse.Namespace, client: Any) -> int:
    from provisioning.fleet_table import render

    devices = client.devices(site=args.site)
    print(json.dumps(devices, indent=1) if args.json else render(devices))
    return 0


def _revoke(args: argparse.Namespace, client: Any) -> int:
    done = client.revoke(args.device)
    how = (
        "broker account disabled, connection dropped"
        if done["broker_disabled"]
        else "no broker account to disable (never claimed, or the broker runs without "
        "the security plugin)"
    )
    print(f"{args.device}: revoked ({how})")
    return 0


def _push_config(args: argparse.Namespace, client: Any) -> int:
    pushed = client.push_config(args.device, _read_settings(args.file))
    print(f"{args.device}: config version {pushed['version']} pushed")
    return 0


def _read_settings(path: Path) -> dict[str, Any]:
    from provisioning.client import CloudError

    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except OSError as exc:
        raise CloudError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise CloudError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise CloudError(f"{path} must hold an object of settings sections")
    return data


def _run_bulk(args: argparse.Namespace, client: Any) -> int:
    from tqdm import tqdm  # type: ignore[import-untyped]

    from provisioning.bulk import CsvError, read_rows, register_all

    try:
        rows, bad = read_rows(args.csv)
    except CsvError as exc:
        return _fail(str(exc), 2)
    result = register_all(
        client,
        rows,
        out_dir=args.out,
        progress=lambda it: tqdm(it, total=len(rows), desc="registering", unit="box"),
    )
    for line, why in [*bad, *result.failed]:
        print(f"{args.csv}:{line}: skipped: {why}", file=sys.stderr)
    print(
        f"{len(result.registered)} boxes registered; claim tokens and QR codes in"
        f" {args.out} (claims.csv, mode 0600)"
    )
    return 0 if not bad and not result.failed else 1


def _run_pki(args: argparse.Namespace) -> int:
    from provisioning.pki import ca_files, client_cert, create_ca, server_cert

    action: str = args.provision_command
    if action == "ca":
        made = create_ca(args.dir, name=args.name, days=args.days, overwrite=args.force)
    elif action == "server-cert":
        made = server_cert(
            ca_files(args.dir),
            args.dir,
            hosts=args.host,
            name=args.name,
            days=args.days,
            overwrite=args.force,
        )
    else:
        made = client_cert(
            ca_files(args.dir),
            args.dir,
            common_name=args.device,
            days=args.days,
            overwrite=args.force,
        )
    print(f"certificate: {made.cert}")
    print(f"key:         {made.key} (mode 0600)")
    return 0
