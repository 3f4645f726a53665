"""Bearer-token auth through the real server and client."""

from __future__ import annotations

import pytest

from gatenet.client import Client, ClientError


def test_token_required_when_configured(make_server):
    srv = make_server(auth_token="s3cret")
    with Client(srv.target) as anonymous:
        with pytest.raises(ClientError) as err:
            anonymous.train(gate="xor")
        assert err.value.code == "UNAUTHENTICATED"
        assert "authorization" in err.value.message
        assert anonymous.health() == "SERVING", "probes need no token"
    with Client(srv.target, token="wrong") as wrong:
        with pytest.raises(ClientError) as err:
            wrong.list_models()
        assert err.value.code == "PERMISSION_DENIED"
    with Client(srv.target, token="s3cret") as user:
        model = user.train(gate="xor").model_id
        assert user.predict(model, [[0, 1]]).labels.tolist() == [1]

    def handled(method: str, code: str) -> float | None:
        labels = {"grpc_type": "unary", "grpc_service": "gatenet.v1.GateService"}
        labels |= {"grpc_method": method, "grpc_code": code}
        return srv.metrics_registry.get_sample_value("grpc_server_handled_total", labels)

    # Refused calls are counted with the code the client got, like every other call.
    assert handled("Train", "UNAUTHENTICATED") == 1
    assert handled("ListModels", "PERMISSION_DENIED") == 1
    assert handled("Train", "OK") == 1
    assert handled("Predict", "OK") == 1
