"""The gRPC port's protections on the HTTP port: tokens and roles, TLS and mTLS, the drain,
metrics by route template and the per-request log line."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gatenet.client import Client
from gatenet_testing.http_support import (
    XOR_LABELS,
    XOR_ROWS,
    infer_body,
    request,
    xor_model_file,
)
from gatenet_testing.pki import make_pki

INFER = "/v2/models/{name}/infer"


def _imported(srv, name: str = "xor", token: str | None = None) -> str:
    with Client(srv.target, timeout=60, token=token) as c:
        return c.import_model(xor_model_file(), name=name).model_id


def test_routes_need_the_role_of_their_grpc_method_and_health_is_open(make_server, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("reader read\n")
    srv = make_server(tokens_file=str(tokens), auth_token="admin-token")
    _imported(srv, token="admin-token")
    base = f"http://127.0.0.1:{srv.http.port}"
    assert request(base + "/v2/health/live").status == 200
    assert request(base + "/v2/health/ready").status == 200
    for path, body in (
        ("/v2", None),
        ("/v2/models/xor", None),
        ("/v2/models/xor/infer", infer_body(XOR_ROWS)),
    ):
        missing = request(base + path, body)
        assert missing.status == 401, path
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert "authorization: missing" in missing.json()["error"]
        wrong = request(base + path, body, {"Authorization": "Bearer nope"})
        assert wrong.status == 401 and "not accepted" in wrong.json()["error"]
        basic = request(base + path, body, {"Authorization": "Basic eDp5"})
        assert basic.status == 401 and "not a bearer token" in basic.json()["error"]
        assert request(base + path, body, {"Authorization": "bearer  reader "}).status == 200
    answer = request(
        base + "/v2/models/xor/infer", infer_body(XOR_ROWS), {"Authorization": "Bearer reader"}
    )
    assert answer.json()["outputs"][1]["data"] == XOR_LABELS


def _samples(srv) -> dict[tuple[str, frozenset], float]:
    text = generate_latest(srv.prometheus_registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_requests_are_counted_by_route_template_method_and_code(make_server):
    srv = make_server()
    _imported(srv)
    base = f"http://127.0.0.1:{srv.http.port}"
    for _ in range(3):
        assert request(base + "/v2/models/xor/infer", infer_body(XOR_ROWS)).status == 200
    assert request(base + "/v2/models/xor/infer", b"{").status == 400
    assert request(base + "/v2/models/xor/infer").status == 405
    for i in range(5):  # raw paths never become labels
        assert request(f"{base}/random/{i}").status == 404
    samples = _samples(srv)

    def requests(route: str, method: str, code: str) -> float:
        labels = frozenset({"route": route, "method": method, "code": code}.items())
        return samples.get(("gatenet_http_requests_total", labels), 0.0)

    assert requests(INFER, "POST", "200") == 3
    assert requests(INFER, "POST", "400") == 1
    assert requests(INFER, "GET", "405") == 1
    assert requests("unmatched", "GET", "404") == 5
    routes = {
        dict(labels)["route"] for name, labels in samples if name == "gatenet_http_requests_total"
    }
    assert routes == {INFER, "unmatched"}
    duration = frozenset({"route": INFER, "method": "POST"}.items())
    assert samples[("gatenet_http_request_duration_seconds_count", duration)] == 4


def test_each_request_logs_one_line_like_a_grpc_call(make_server, caplog):
    srv = make_server()
    _imported(srv)
    base = f"http://127.0.0.1:{srv.http.port}"
    with caplog.at_level(logging.DEBUG, logger="gatenet.access"):
        assert request(base + "/v2/models/xor/infer", infer_body(XOR_ROWS)).status == 200
        assert request(base + "/v2/models/xor/infer", b"[]").status == 400
    lines = [r for r in caplog.records if r.name == "gatenet.access" and r.msg == "http"]
    assert [(r.levelno, r.fields["method"], r.fields["code"]) for r in lines] == [
        (logging.DEBUG, f"POST {INFER}", 200),  # the hot path's successes log at DEBUG
        (logging.INFO, f"POST {INFER}", 400),
    ]
    assert all(r.fields["ms"] >= 0 for r in lines)


def _client_context(pki, cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca)
    if cert:
        context.load_cert_chain(pki.client_cert, pki.client_key)
    return context


def test_tls_on_the_http_port_with_the_grpc_flags(make_server, tmp_path):
    pki = make_pki(tmp_path)
    srv = make_server(tls_cert=pki.server_cert, tls_key=pki.server_key)
    https = f"https://127.0.0.1:{srv.http.port}"
    assert request(https + "/v2/health/live", context=_client_context(pki, False)).status == 200
    with pytest.raises(OSError):  # plain HTTP to a TLS port is no request at all
        request(f"http://127.0.0.1:{srv.http.port}/v2/health/live")


def test_mtls_requires_a_client_certificate_on_the_http_port(make_server, tmp_path):
    pki = make_pki(tmp_path)
    srv = make_server(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca)
    https = f"https://127.0.0.1:{srv.http.port}/v2/health/live"
    with pytest.raises(OSError):
        request(https, context=_client_context(pki, False))
    assert request(https, context=_client_context(pki, True)).status == 200


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (its Content-Length of body) from a raw socket."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {answer!r}"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))[15:]
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


def _head(body: bytes) -> bytes:
    return (
        "POST /v2/models/xor/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()


def test_a_request_in_flight_finishes_while_new_ones_get_503_and_the_port_closes(make_server):
    srv = make_server()
    _imported(srv)
    port = srv.http.port
    body = infer_body(XOR_ROWS)
    address = ("127.0.0.1", port)
    with (
        socket.create_connection(address, timeout=30) as idle,
        socket.create_connection(address, timeout=30) as uploading,
    ):
        idle.sendall(_head(body) + body)  # a keep-alive connection, open while the server stops
        assert _read_response(idle).startswith(b"HTTP/1.1 200 OK")
        uploading.sendall(_head(body) + body[:10])  # its handler waits for the rest of the body
        deadline = time.monotonic() + 10
        while srv.http.routes._in_flight < 1:  # the request has reached its handler
            assert time.monotonic() < deadline, "the request never reached the server"
            time.sleep(0.01)
        stopping = threading.Thread(target=srv.stop, kwargs={"grace": 30, "drain_delay": 0})
        stopping.start()
        deadline = time.monotonic() + 10
        while not _refused(port):  # the port closes; the request in flight goes on
            assert time.monotonic() < deadline, "the port stayed open"
            time.sleep(0.01)
        idle.sendall(_head(body) + body)
        refused = _read_response(idle)
        assert refused.startswith(b"HTTP/1.1 503"), refused
        assert b"Connection: close" in refused and b"shutting down" in refused
        uploading.sendall(body[10:])
        answer = _read_response(uploading)
    stopping.join(timeout=30)
    assert not stopping.is_alive(), "stop() waited past the request's end"
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]
    assert answer.endswith(b'"data":[false,true,true,false]}]}')
