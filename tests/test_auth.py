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
