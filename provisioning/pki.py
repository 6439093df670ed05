"""The project's own certificate authority: a CA, server certificates for the broker,
and client certificates for mutual TLS. Private keys are written readable by the owner
only (0600), and never overwritten by accident."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class PkiError(RuntimeError):
    """A file is missing, exists already, or is not what it should be."""


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _name(common_name: str, organisation: str = "Tianshan") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write(path: Path, data: bytes, *, mode: int, overwrite: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise PkiError(f"{path} exists (--force replaces it)") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)  # the umask may have narrowed it, O_TRUNC kept an older mode


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path, *, overwrite: bool) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(path, pem, mode=0o600, overwrite=overwrite)


def _write_cert(cert: x509.Certificate, path: Path, *, overwrite: bool) -> None:
    _write(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644, overwrite=overwrite)


def _load(ca: Issued) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
        key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    except OSError as exc:
        raise PkiError(f"cannot read the CA: {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise PkiError(f"the CA files are not PEM certificate and key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{ca.key} is not an EC private key")
    return cert, key


def create_ca(
    folder: Path, *, name: str = "Tianshan CA", days: int = 3650, overwrite: bool = False
) -> Issued:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = Issued(folder / "ca.pem", folder / "ca.key")
    _write_key(key, issued.key, overwrite=overwrite)
    _write_cert(cert, issued.cert, overwrite=overwrite)
    return issued


def _leaf(
    ca: Issued,
    *,
    common_name: str,
    sans: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    days: int,
    cert_path: Path,
    key_path: Path,
    overwrite: bool,
) -> Issued:
    ca_cert, ca_key = _load(ca)
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(key, key_path, overwrite=overwrite)
    _write_cert(cert, cert_path, overwrite=overwrite)
    return Issued(cert_path, key_path)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def server_cert(
    ca: Issued,
    folder: Path,
    *,
    hosts: list[str],
    name: str = "server",
    days: int = 825,
    overwrite: bool = False,
) -> Issued:
    """A certificate for the broker, valid for each of ``hosts`` (names or addresses)."""
    if not hosts:
        raise PkiError("a server certificate needs at least one host name or address")
    return _leaf(
        ca,
        common_name=hosts[0],
        sans=[_general_name(h) for h in hosts],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        days=days,
        cert_path=folder / f"{name}.pem",
        key_path=folder / f"{name}.key",
        overwrite=overwrite,
    )


def client_cert(
    ca: Issued, folder: Path, *, common_name: str, days: int = 825, overwrite: bool = False
) -> Issued:
    """A client certificate for mutual TLS (the common name is the device id)."""
    return _leaf(
        ca,
        common_name=common_name,
        sans=[],
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        days=days,
        cert_path=folder / f"{common_name}.pem",
        key_path=folder / f"{common_name}.key",
        overwrite=overwrite,
    )


def ca_files(folder: Path) -> Issued:
    return Issued(folder / "ca.pem", folder / "ca.key")
