"""Bearer tokens with roles, through the real server and client."""

from __future__ import annotations

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gatenet.client import Client, ClientError

# Each starts servers of its own, whose workers warm torch up: make test's second step.
pytestmark = pytest.mark.slow


def _handled(srv, method: str, code: str) -> float | None:
    labels = {"grpc_type": "unary", "grpc_service": "gatenet.v1.GateService"}
    labels |= {"grpc_method": method, "grpc_code": code}
    return srv.prometheus_registry.get_sample_value("grpc_server_handled_total", labels)


def test_single_token_is_an_admin_token(make_server):
    srv = make_server(auth_token="s3cret")
    with Client(srv.target) as anonymous:
        with pytest.raises(ClientError) as err:
            anonymous.train(gate="xor")
        assert err.value.code == "UNAUTHENTICATED"
        assert "authorization: missing" in err.value.message
        assert anonymous.health() == "SERVING", "probes need no token"
    with Client(srv.target, token="wrong") as wrong:
        with pytest.raises(ClientError) as err:
            wrong.list_models()
        assert err.value.code == "UNAUTHENTICATED"
        assert "not accepted" in err.value.message
    with Client(srv.target, token="s3cret") as admin:
        model = admin.train(gate="xor").model_id
        assert admin.predict(model, [[0, 1]]).labels.tolist() == [1]
        admin.delete_model(model)
    # Refused calls are counted with the code the client got, like every other call.
    assert _handled(srv, "Train", "UNAUTHENTICATED") == 1
    assert _handled(srv, "ListModels", "UNAUTHENTICATED") == 1
    assert _handled(srv, "Train", "OK") == 1
    assert _handled(srv, "DeleteModel", "OK") == 1


@pytest.fixture
def roles_server(make_server, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# token role\nr3ad read\ntr4in train\nadm1n admin\n")
    return make_server(tokens_file=str(tokens))


@pytest.mark.parametrize(
    ("token", "train", "delete"),
    [
        ("r3ad", "PERMISSION_DENIED", "PERMISSION_DENIED"),
        ("tr4in", "OK", "PERMISSION_DENIED"),
        ("adm1n", "OK", "OK"),
    ],
)
def test_roles_allow_what_they_name(roles_server, token, train, delete):
    with Client(roles_server.target, token="adm1n") as admin:
        model = admin.train(gate="or").model_id
    with Client(roles_server.target, token=token) as c:
        assert c.predict(model, [[0, 1]]).labels.tolist() == [1]  # every role reads
        assert c.get_model(model).model_id == model
        for code, call in (
            (train, lambda: c.train(gate="and")),
            (delete, lambda: c.delete_model(model)),
        ):
            if code == "OK":
                call()
                continue
            with pytest.raises(ClientError) as err:
                call()
            assert err.value.code == code
            assert f"role {token_role(token)!r} cannot call" in err.value.message


def token_role(token: str) -> str:
    return {"r3ad": "read", "tr4in": "train", "adm1n": "admin"}[token]


def test_scheme_is_case_insensitive_and_malformed_headers_are_unauthenticated(
    roles_server, open_channel
):
    channel = open_channel(roles_server.target)
    list_models = channel.unary_unary("/gatenet.v1.GateService/ListModels")
    assert list_models(b"", metadata=[("authorization", "bearer r3ad")]) is not None
    assert list_models(b"", metadata=[("authorization", "BEARER r3ad")]) is not None
    for header in ("r3ad", "Basic r3ad", "Bearer ", "Bearer r3ad extra"):
        with pytest.raises(grpc.RpcError) as err:
            list_models(b"", metadata=[("authorization", header)])
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED, header


def test_bodies_that_do_not_decode_are_refused_after_auth(roles_server, open_channel):
    channel = open_channel(roles_server.target)
    get_model = channel.unary_unary("/gatenet.v1.GateService/GetModel")
    with pytest.raises(grpc.RpcError) as err:
        get_model(b"\xff\xff\xff")  # no token: auth answers first
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        get_model(b"\xff\xff\xff", metadata=[("authorization", "Bearer r3ad")])
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "request: body is not a valid gatenet.v1.GetModelRequest"
    assert _handled(roles_server, "GetModel", "INVALID_ARGUMENT") == 1


def _list_services(target: str, token: str | None) -> list[str]:
    channel = grpc.insecure_channel(target)
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    metadata = [("authorization", f"Bearer {token}")] if token else None
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    try:
        (reply,) = list(stub.ServerReflectionInfo(iter([request]), metadata=metadata))
        return [s.name for s in reply.list_services_response.service]
    finally:
        channel.close()


def test_reflection_is_open_unless_asked_to_need_a_token(make_server, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("r3ad read\n")
    open_srv = make_server(tokens_file=str(tokens))
    assert "gatenet.v1.GateService" in _list_services(open_srv.target, None)
    closed = make_server(tokens_file=str(tokens), auth_reflection=True)
    with pytest.raises(grpc.RpcError) as err:
        _list_services(closed.target, None)
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "gatenet.v1.GateService" in _list_services(closed.target, "r3ad")
