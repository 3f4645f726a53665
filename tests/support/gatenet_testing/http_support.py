"""For the HTTP port's tests: an XOR model to import (no training to wait for) and a small
HTTP client on the standard library that returns any status rather than raising it."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from safetensors.numpy import save as save_safetensors

XOR_ROWS = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_LABELS = [False, True, True, False]


def xor_model_file() -> bytes:
    """A 2-2-1 tanh network that computes XOR, as a safetensors file."""
    k = 8.0
    tensors = {
        "layers.0.weight": np.array([[k, k], [k, k]], np.float32),
        "layers.0.bias": np.array([-0.5 * k, -1.5 * k], np.float32),
        "layers.1.weight": np.array([[k], [-k]], np.float32),
        "layers.1.bias": np.array([-k], np.float32),
    }
    return save_safetensors(tensors, metadata={"activation": "tanh"})


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "",
    context: ssl.SSLContext | None = None,
) -> Reply:
    """One HTTP request; any status comes back as a Reply (never raised)."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method or None)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as answer:
            return Reply(answer.status, dict(answer.headers), answer.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers), err.read())


def infer_body(rows: Any, datatype: str = "FP32", **fields: Any) -> bytes:
    """A V2 REST infer body with `rows` as the one `inputs` tensor's JSON data."""
    shape = list(np.asarray(rows).shape)
    tensor = {"name": "inputs", "datatype": datatype, "shape": shape, "data": rows}
    return json.dumps({"inputs": [tensor], **fields}).encode()


class Pki(NamedTuple):
    """PEM files: a CA, a server certificate for 127.0.0.1 and a client certificate it signed."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def make_pki(folder: Path) -> Pki:
    """A throwaway CA, server and client certificates (EC P-256, valid for a day)."""
    now = datetime.datetime.now(datetime.UTC)

    def issue(common: str, key: Any, issuer: Any, server: bool) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])
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
        elif server:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, False)
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256())

    def write(name: str, cert: x509.Certificate, key: Any) -> tuple[str, str]:
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

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("gatenet test CA", ca_key, None, False)
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_path, _ = write("ca", ca, ca_key)
    server = write("server", issue("server", server_key, (ca, ca_key), True), server_key)
    client = write("client", issue("client", client_key, (ca, ca_key), False), client_key)
    return Pki(ca_path, *server, *client)
