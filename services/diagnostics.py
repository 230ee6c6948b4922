"""The Diagnostics service: a no-op RPC through the full server stack (for benchmarks)."""

from __future__ import annotations

from typing import Any

from services.common.identity import current_caller
from yihao.v1 import common_pb2 as common
from yihao.v1 import common_pb2_grpc as common_grpc


class DiagnosticsServicer(common_grpc.DiagnosticsServicer):  # type: ignore[misc]
    """Answers Ping with the payload and the caller the server identified."""

    def Ping(self, request: common.PingRequest, context: Any) -> Any:
        return common.PingResponse(payload=request.payload, caller_code=current_caller().code)
