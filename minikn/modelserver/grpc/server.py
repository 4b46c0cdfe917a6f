"""``grpc.aio`` serving ``inference.GRPCInferenceService`` on the model server's event loop.

KServe runs its gRPC server in the same process as REST on the same ``DataPlane``; so does
minikn: both faces share the models, their readiness and the step metrics. No thread pool runs
the handlers (they are coroutines); a model's blocking ``predict`` blocks the loop exactly as it
does for REST.

Bounds (typed, from the command line): a message above ``max_receive_bytes`` is refused by gRPC
itself with RESOURCE_EXHAUSTED before it is decoded (KServe's ``MAX_GRPC_MESSAGE_LENGTH``,
8 MiB, by default); responses are bounded by ``max_send_bytes``; one HTTP/2 connection may hold
at most ``max_concurrent_streams`` calls at once (further streams wait for the client's window,
as HTTP/2 says, instead of piling up in the server).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from grpc import aio

from minikn.modelserver.dataplane import DataPlane
from minikn.modelserver.grpc.servicer import InferenceServicer

__all__ = ["MAX_GRPC_MESSAGE_LENGTH", "GrpcServer", "GrpcSettings"]

log = logging.getLogger("minikn.modelserver.grpc")

# KServe's constants.MAX_GRPC_MESSAGE_LENGTH.
MAX_GRPC_MESSAGE_LENGTH = 8 * 2**20


@dataclass(frozen=True)
class GrpcSettings:
    """The gRPC face's bounds; the flags are KServe's where KServe has one."""

    max_receive_bytes: int = MAX_GRPC_MESSAGE_LENGTH
    """``--grpc_max_receive_message_length``: the largest request message accepted."""
    max_send_bytes: int = MAX_GRPC_MESSAGE_LENGTH
    """``--grpc_max_send_message_length``: the largest response message sent."""
    max_concurrent_streams: int = 1024
    """``--grpc_max_concurrent_streams`` (minikn's): calls in flight per HTTP/2 connection."""
    grace_s: float = 5.0
    """How long ``stop`` lets calls in flight finish before cancelling them."""

    def options(self) -> list[tuple[str, Any]]:
        return [
            ("grpc.max_receive_message_length", self.max_receive_bytes),
            ("grpc.max_send_message_length", self.max_send_bytes),
            ("grpc.max_concurrent_streams", self.max_concurrent_streams),
            ("grpc.so_reuseport", 0),
        ]


class GrpcServer:
    """One ``grpc.aio`` server for a ``DataPlane``: ``start`` binds, ``stop`` drains."""

    def __init__(self, dataplane: DataPlane, settings: GrpcSettings | None = None) -> None:
        self.settings = settings or GrpcSettings()
        self.servicer = InferenceServicer(dataplane)
        self._server: Any = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port); the bound port."""
        server = aio.server(options=self.settings.options())
        server.add_generic_rpc_handlers((self.servicer.handlers(),))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        bound = int(server.add_insecure_port(address))
        if bound == 0:
            raise OSError(f"gRPC: cannot listen on {address}")
        await server.start()
        self._server = server
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(self.settings.grace_s)
            self._server = None
