"""Opening a gRPC server's port, with an error that names the address and what sets it."""

from __future__ import annotations

import grpc

from services.common.errors import FailedPrecondition


def listen(
    server: grpc.Server, address: str, credentials: grpc.ServerCredentials, set_by: str
) -> int:
    """Add a mutual-TLS port at ``address`` to ``server`` and return the port bound (the one
    chosen when ``address`` ends in ``:0``). An address this machine cannot listen on — in use
    by another process, or not one of its own — is a ``LISTEN_FAILED`` error naming it and
    ``set_by``, where it was configured (grpcio reports the failure as port 0 in some versions
    and as a ``RuntimeError`` in others)."""
    try:
        port = server.add_secure_port(address, credentials)
    except RuntimeError:
        port = 0
    if port == 0:
        raise FailedPrecondition(
            f"cannot listen on {address}: the address is in use by another process (is a server "
            f"already running?) or is not one of this machine's; choose another with {set_by}",
            reason="LISTEN_FAILED",
        )
    return port
