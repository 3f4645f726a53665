"""Server TLS from PEM files, checked before gRPC sees them: a bad file is named, with why.

gRPC only says "Invalid private key" in its own log and fails the bind, which used to read as
a port problem. The stdlib's ssl (OpenSSL) parses the same PEM files, so it can tell which
file is wrong before anything opens.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import grpc

from gatenet.server.config import SettingError, Settings

_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_ENCRYPTED = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")


def _read(flag: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SettingError(f"{flag} {path}: cannot read it: {exc.strerror}") from None


def _certificates(flag: str, path: str, data: bytes, swap: str = "") -> None:
    """Refuse a file meant to hold certificates that holds none (a key, or not PEM at all)."""
    if _CERTIFICATE in data:
        return
    if _PRIVATE_KEY.search(data):
        hint = f" (swapped with {swap}?)" if swap else ""
        raise SettingError(f"{flag} {path}: holds a private key, not a certificate{hint}")
    raise SettingError(f"{flag} {path}: no PEM certificate in it")


def _private_key(path: str, data: bytes) -> None:
    if _ENCRYPTED.search(data):
        raise SettingError(f"--tls-key {path}: is encrypted; gRPC needs an unencrypted key")
    if _PRIVATE_KEY.search(data):
        return
    if _CERTIFICATE in data:
        raise SettingError(
            f"--tls-key {path}: holds a certificate, not a private key (swapped with --tls-cert?)"
        )
    raise SettingError(f"--tls-key {path}: no PEM private key in it")


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for a key's password.
    return b""


def _openssl(exc: ssl.SSLError) -> str:
    """OpenSSL's words without the C source line ("[X509] PEM lib")."""
    return "OpenSSL: " + re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(exc.reason or exc))


def _parse_certificates(flag: str, path: str) -> None:
    """Every certificate block must parse (a damaged one stops gRPC just the same)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        raise SettingError(
            f"{flag} {path}: not a readable PEM certificate ({_openssl(exc)})"
        ) from None


def _pair(cert: str, key: str) -> None:
    """The key must parse and be the certificate's own, as OpenSSL (and so gRPC) sees them."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise SettingError(
                f"--tls-key {key}: does not match the certificate in --tls-cert {cert}"
            ) from None
        raise SettingError(
            f"--tls-key {key}: not a readable private key ({_openssl(exc)})"
        ) from None


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """Credentials from --tls-cert/--tls-key (and --tls-client-ca: mTLS), or None without TLS.

    SettingError names the file that is wrong and how."""
    if not settings.tls_cert:
        return None
    cert = _read("--tls-cert", settings.tls_cert)
    key = _read("--tls-key", settings.tls_key)
    _certificates("--tls-cert", settings.tls_cert, cert, swap="--tls-key")
    _parse_certificates("--tls-cert", settings.tls_cert)
    _private_key(settings.tls_key, key)
    _pair(settings.tls_cert, settings.tls_key)
    ca = None
    if settings.tls_client_ca:
        ca = _read("--tls-client-ca", settings.tls_client_ca)
        _certificates("--tls-client-ca", settings.tls_client_ca, ca)
        _parse_certificates("--tls-client-ca", settings.tls_client_ca)
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=bool(ca)
    )


def http_context(settings: Settings) -> ssl.SSLContext | None:
    """The HTTP port's TLS from the same files (checked by server_credentials first): with
    --tls-client-ca, client certificates it signed are required, as on the gRPC port."""
    if not settings.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # gRPC's floor too
    context.load_cert_chain(settings.tls_cert, settings.tls_key, password=_no_password)
    if settings.tls_client_ca:
        context.load_verify_locations(cafile=settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
