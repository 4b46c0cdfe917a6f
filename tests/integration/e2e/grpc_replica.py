"""A tiny gRPC replica for tests: service ``minikn.test.Probe`` on ``$HOST:$PORT`` (h2c), raw bytes
in and out (no protobuf), with one method of each kind:

- ``Echo`` (unary): the request back;
- ``Count`` (server streaming): the request is a number n; answers ``b"0"`` .. ``b"n-1"``, each
  message only after the previous one was written;
- ``Chat`` (bidi streaming): each message back as it comes (a client that waits for each answer
  before it sends the next proves messages pass through one by one);
- ``Stall`` (unary): never answers;
- ``Revision`` (unary): ``$K_REVISION``, the revision the call reached.

``GATE=<path>`` holds the server back (not listening, so not ready) until that file exists.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import grpc

SERVICE = "minikn.test.Probe"


async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def count(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for i in range(int(request)):
        yield b"%d" % i


async def chat(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
) -> AsyncIterator[bytes]:
    async for message in requests:
        yield message


async def stall(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.Event().wait()
    return b""


async def revision(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return os.environ.get("K_REVISION", "").encode()


async def main() -> None:
    gate = os.environ.get("GATE")
    if gate:
        async with asyncio.timeout(300):
            while not os.path.exists(gate):
                await asyncio.sleep(0.05)
    handlers = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Count": grpc.unary_stream_rpc_method_handler(count),
            "Chat": grpc.stream_stream_rpc_method_handler(chat),
            "Stall": grpc.unary_unary_rpc_method_handler(stall),
            "Revision": grpc.unary_unary_rpc_method_handler(revision),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handlers,))
    server.add_insecure_port(f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ['PORT']}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
