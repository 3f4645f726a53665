"""Throwaway certificates for the TLS tests: EC P-256, valid for a day, leaves for 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Issuer = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


class Pki(NamedTuple):
    """PEM files: a CA, a server certificate for 127.0.0.1 and a client certificate it signed."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: Issuer | None) -> x509.Certificate:
    """A CA certificate (issuer None, self-signed) or a leaf for 127.0.0.1 that `issuer` signed."""
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def write(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[str, str]:
    """The certificate and key as NAME.crt and NAME.key in `folder`: their paths."""
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def make_pki(folder: Path) -> Pki:
    """A CA and the server and client certificates it signed, written to `folder`."""
    ca_key, server_key, client_key = new_key(), new_key(), new_key()
    ca = issue("gatenet test CA", ca_key, None)
    ca_path, _ = write(folder, "ca", ca, ca_key)
    server = write(folder, "server", issue("server", server_key, (ca, ca_key)), server_key)
    client = write(folder, "client", issue("client", client_key, (ca, ca_key)), client_key)
    return Pki(ca_path, *server, *client)
