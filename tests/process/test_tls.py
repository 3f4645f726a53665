"""TLS and mTLS through the real server, client and CLI, with certificates made at run time."""

from __future__ import annotations

import os
import socket

import pytest

from gatenet.client import Client, ClientError, cli
from gatenet_testing.pki import issue, new_key, write
from gatenet_testing.serve_process import gatenet

# Each starts servers of its own, whose workers warm torch up: make test's second step.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """A CA, a server and a client certificate it signed, and a client signed by another CA."""
    folder = tmp_path_factory.mktemp("pki")
    files = {}
    ca_key, other_key = new_key(), new_key()
    ca = issue("gatenet test CA", ca_key, None)
    other = issue("another CA", other_key, None)
    files["ca"] = write(folder, "ca", ca, ca_key)
    for name, issuer in (
        ("server", (ca, ca_key)),
        ("client", (ca, ca_key)),
        ("stranger", (other, other_key)),
    ):
        key = new_key()
        files[name] = write(folder, name, issue(name, key, issuer), key)
    return files


def test_tls_serves_and_plaintext_is_refused(make_server, pki):
    srv = make_server(tls_cert=pki["server"][0], tls_key=pki["server"][1])
    with Client(srv.target, root_certificates=pki["ca"][0]) as c:
        model = c.train(gate="xor").model_id
        assert c.predict(model, [[0, 1]]).labels.tolist() == [1]
    with Client(srv.target, timeout=5, retries=0) as plain:
        with pytest.raises(ClientError) as err:
            plain.health()
        assert err.value.code == "UNAVAILABLE"


def test_mtls_refuses_clients_without_a_certificate_from_its_ca(make_server, pki):
    srv = make_server(
        tls_cert=pki["server"][0], tls_key=pki["server"][1], tls_client_ca=pki["ca"][0]
    )
    ca = pki["ca"][0]
    with Client(
        srv.target,
        root_certificates=ca,
        certificate_chain=pki["client"][0],
        private_key=pki["client"][1],
    ) as c:
        assert c.health() == "SERVING"
    for cert in (None, pki["stranger"]):
        kwargs = {"certificate_chain": cert[0], "private_key": cert[1]} if cert else {}
        with Client(srv.target, root_certificates=ca, timeout=5, retries=0, **kwargs) as c:
            with pytest.raises(ClientError) as err:
                c.health()
            assert err.value.code == "UNAVAILABLE"


def test_the_cli_speaks_mtls(make_server, pki, capsys, monkeypatch):
    srv = make_server(
        tls_cert=pki["server"][0], tls_key=pki["server"][1], tls_client_ca=pki["ca"][0]
    )
    monkeypatch.setenv("GATENET_CA", pki["ca"][0])
    args = ["--target", srv.target, "--cert", pki["client"][0], "--key", pki["client"][1]]
    assert cli.main([*args, "health"]) == 0
    assert capsys.readouterr().out.strip() == "SERVING"


def _refused(*flags: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Exit status and stderr lines of a `gatenet serve` that must stop at start-up."""
    proc = gatenet(
        "serve", "--port", "0", "--metrics-port", "-1", "--store", "memory", *flags, env=env
    )
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # it started: the test fails below, the server goes
            proc.kill()
            proc.communicate()
    return proc.returncode, err.strip().splitlines()


@pytest.fixture(scope="module")
def not_pem(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("bad") / "ca.txt"
    path.write_text("this is not a PEM file\n")
    return str(path)


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (
            ["--tls-cert", "S.crt", "--tls-key", "C.key"],
            "--tls-key C.key: does not match the certificate in --tls-cert S.crt",
        ),
        (
            ["--tls-cert", "S.key", "--tls-key", "S.crt"],
            "--tls-cert S.key: holds a private key, not a certificate (swapped with --tls-key?)",
        ),
        (
            ["--tls-cert", "S.crt", "--tls-key", "S.key", "--tls-client-ca", "NOTPEM"],
            "--tls-client-ca NOTPEM: no PEM certificate in it",
        ),
        (
            ["--tls-cert", "S.crt", "--tls-key", "S.key", "--tls-client-ca", "S.key"],
            "--tls-client-ca S.key: holds a private key, not a certificate",
        ),
        (
            ["--tls-cert", "S.crt", "--tls-key", "NOTPEM"],
            "--tls-key NOTPEM: no PEM private key in it",
        ),
        (["--tls-cert", "S.crt"], "--tls-cert needs --tls-key"),
        (["--tls-key", "S.key"], "--tls-key needs --tls-cert"),
        (["--tls-client-ca", "CA.crt"], "--tls-client-ca needs --tls-cert and --tls-key"),
    ],
    ids=["mismatched-key", "swapped", "ca-not-pem", "ca-is-a-key", "key-not-pem"]
    + ["cert-alone", "key-alone", "ca-alone"],
)
def test_bad_tls_material_names_the_file_and_why(pki, not_pem, flags, line):
    """Checked before gRPC sees it: one line of ours, no gRPC core log line before it."""
    names = {
        "S.crt": pki["server"][0],
        "S.key": pki["server"][1],
        "C.key": pki["client"][1],
        "CA.crt": pki["ca"][0],
        "NOTPEM": not_pem,
    }
    flags = [names.get(f, f) for f in flags]
    for short, path in names.items():
        line = line.replace(short, path)
    status, lines = _refused(*flags)
    assert (status, lines) == (2, [f"gatenet serve: {line}"])


def test_a_taken_port_is_one_line_unless_grpc_logs_are_asked_for():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ours = (
            f"gatenet serve: cannot bind gRPC to 127.0.0.1:{port} (--host/--port): address in use"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRPC_")}
        assert _refused("--port", str(port), env=env) == (1, [ours])
        status, lines = _refused("--port", str(port), env={**env, "GRPC_VERBOSITY": "ERROR"})
        assert status == 1 and lines[-1] == ours and len(lines) > 1  # gRPC's own lines first


def test_a_tls_mismatch_names_its_likely_cause(make_server, pki, capsys):
    """Through the CLI: not a bare 'Socket closed', which reads as a network failure."""
    ca, stranger = pki["ca"][0], pki["stranger"]
    server_pair = {"tls_cert": pki["server"][0], "tls_key": pki["server"][1]}
    tls = make_server(**server_pair)
    mtls = make_server(**server_pair, tls_client_ca=ca)
    plain = make_server()
    cases = [
        ([tls.target], "the server may require TLS: --tls/--ca"),
        ([mtls.target, "--ca", ca], "the server may require a client certificate: --cert/--key"),
        (
            [mtls.target, "--ca", ca, "--cert", stranger[0], "--key", stranger[1]],
            "the server may not accept this client certificate: --cert/--key",
        ),
        ([tls.target, "--ca", stranger[0]], "the server's certificate is not signed by --ca"),
        ([plain.target, "--ca", ca], "the server may not use TLS: drop --tls/--ca"),
    ]
    for (target, *flags), hint in cases:
        assert cli.main(["--target", target, "--timeout", "5", *flags, "health"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: cannot reach the gatenet server at {target}"), err
        assert err.endswith(f"; {hint})"), err
    with Client(tls.target, timeout=5, retries=0) as c, pytest.raises(ClientError) as refused:
        c.health()
    assert refused.value.message.endswith("; the server may require TLS: --tls/--ca")
    with Client("127.0.0.1:1", timeout=5, retries=0) as c, pytest.raises(ClientError) as nobody:
        c.health()
    assert "may" not in nobody.value.message  # nothing listens: no TLS guess
