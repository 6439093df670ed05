"""The pure parts of provisioning: broker ACLs per device, the seeded plugin file, the
claim URI, the fleet table, the bulk CSV reader, the PKI's file modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from cloud.dynsec.acl import device_acls, ingest_acls
from cloud.dynsec.policy import CLOUD_ROLE, INGEST_ROLE, seed_config
from provisioning.bulk import CsvError, read_rows
from provisioning.fleet_table import render
from provisioning.pki import PkiError, ca_files, client_cert, create_ca, server_cert
from wire.claim import claim_uri, parse_claim_uri


def test_a_device_may_publish_only_its_own_topics_and_read_only_its_config() -> None:
    acls = device_acls("box-7")
    sends = {a["topic"] for a in acls if a["acltype"] == "publishClientSend"}
    assert sends == {
        f"tianshan/v1/dev/box-7/{c}"
        for c in ("telemetry", "event", "state", "status", "config/ack")
    }
    subscribes = {a["topic"] for a in acls if a["acltype"].startswith("subscribe")}
    assert subscribes == {"tianshan/v1/dev/box-7/config", "tianshan/v1/dev/box-7/command/#"}
    assert all(a["acltype"] != "subscribePattern" for a in acls)  # no wildcard reading
    assert all(a["allow"] for a in acls)  # everything else falls to the default: deny


def test_the_ingest_reads_every_device_through_its_shared_subscription() -> None:
    subscribes = {a["topic"] for a in ingest_acls() if a["acltype"] == "subscribePattern"}
    assert "$share/+/tianshan/v1/dev/+/#" in subscribes


def test_the_seeded_plugin_file_adds_roles_and_denies_by_default() -> None:
    initial = {
        "clients": [
            {"username": "admin", "password": "hash", "salt": "s", "roles": [{"rolename": "admin"}]}
        ],
        "roles": [{"rolename": "admin", "acls": []}],
        "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True},
    }
    seeded = seed_config(initial, admin_username="admin")
    assert {r["rolename"] for r in seeded["roles"]} == {"admin", INGEST_ROLE, CLOUD_ROLE}
    admin = seeded["clients"][0]
    assert [r["rolename"] for r in admin["roles"]] == ["admin", CLOUD_ROLE]
    assert admin["password"] == "hash"  # the hash the plugin's tool wrote is kept as is
    assert not any(v for k, v in seeded["defaultACLAccess"].items() if k != "unsubscribe")
    assert seed_config(seeded, admin_username="admin") == seeded  # idempotent


def test_the_claim_uri_round_trips_and_a_bare_token_is_a_token() -> None:
    uri = claim_uri("https://cloud.example:8443/x", "tsc_a+b/c")
    assert parse_claim_uri(uri) == ("https://cloud.example:8443/x", "tsc_a+b/c")
    assert parse_claim_uri("  tsc_plain \n") == (None, "tsc_plain")
    with pytest.raises(ValueError, match="without a token"):
        parse_claim_uri("tianshan-claim:?cloud=http://x")


def test_the_fleet_table_shows_state_versions_and_drift() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    devices: list[dict[str, Any]] = [
        {
            "device_id": "checkout-1",
            "kind": "checkout",
            "site": "canteen-1",
            "state": "online",
            "last_seen": (now - timedelta(seconds=5)).isoformat(),
            "software": "tianshan-edge/0.1.0",
            "model_version": "traycolour-3",
            "config_version": 1,
            "config_current_version": 2,
            "config_drift": True,
            "config_rejected_version": 2,
            "config_rejected_reason": "colours.red: negative",
        },
        {
            "device_id": "fire-1",
            "kind": "fire",
            "site": "lane-800",
            "state": "registered",
            "last_seen": None,
            "config_drift": False,
        },
    ]
    table = render(devices, now=now)
    lines = table.splitlines()
    assert lines[0].split() == ["device", "kind", "site", "state", "last", "seen", "software",
                                "model", "config"]  # fmt: skip
    assert "5 s ago" in lines[1]
    assert "traycolour-3" in lines[1]
    assert "v1 (DRIFT: current v2) rejected: colours.red: negative" in lines[1]
    assert "never" in lines[2]
    assert lines[-1] == "2 devices, 1 not running their current config"


def test_the_bulk_reader_keeps_good_rows_and_names_bad_ones(tmp_path: Path) -> None:
    sheet = tmp_path / "boxes.csv"
    sheet.write_text("\ufeffsite,kind,name\ncanteen-1,checkout,Till 1\n,fire,\nx,toaster,\n")
    rows, bad = read_rows(sheet)
    assert [(r.line, r.site, r.kind, r.name) for r in rows] == [
        (2, "canteen-1", "checkout", "Till 1")
    ]
    assert [line for line, _ in bad] == [3, 4]
    (tmp_path / "wrong.csv").write_text("where,what\na,b\n")
    with pytest.raises(CsvError, match="needs the columns site and kind"):
        read_rows(tmp_path / "wrong.csv")


def test_the_pki_keeps_keys_private_and_chains_to_the_ca(tmp_path: Path) -> None:
    ca = create_ca(tmp_path)
    server = server_cert(ca, tmp_path, hosts=["broker.local", "127.0.0.1"])
    client = client_cert(ca_files(tmp_path), tmp_path, common_name="box-1")
    for issued in (ca, server, client):
        assert issued.key.stat().st_mode & 0o777 == 0o600
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    for issued in (server, client):
        cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
    names = (
        x509.load_pem_x509_certificate(server.cert.read_bytes())
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert "broker.local" in names.get_values_for_type(x509.DNSName)
    with pytest.raises(PkiError, match="exists"):
        create_ca(tmp_path)
    with pytest.raises(PkiError, match="cannot read the CA"):
        server_cert(ca_files(tmp_path / "none"), tmp_path, hosts=["x"])
