"""Opening the server's port: an address already taken is a clear error, not a crash."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from services.common.errors import FailedPrecondition
from services.common.listening import listen
from services.server import server_credentials
from testsupport.stack import settings_for


def _server() -> grpc.Server:
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)]
    )


def test_an_address_in_use_names_the_address_and_how_to_choose_another(pki, tmp_path):
    credentials = server_credentials(settings_for("sqlite://", tmp_path, pki))
    first, second = _server(), _server()
    try:
        port = listen(first, "127.0.0.1:0", credentials, "YIHAO_LISTEN")
        assert port > 0
        first.start()
        with pytest.raises(FailedPrecondition) as caught:
            listen(second, f"127.0.0.1:{port}", credentials, "YIHAO_LISTEN")
        assert caught.value.reason == "LISTEN_FAILED"
        message = str(caught.value)
        assert f"127.0.0.1:{port}" in message
        assert "in use" in message and "YIHAO_LISTEN" in message
    finally:
        first.stop(None)
        second.stop(None)
