"""Servers the benchmarks run on 127.0.0.1 beside the code under test."""

from __future__ import annotations

import asyncio
import re
from typing import cast

__all__ = ["FixedAnswer", "serve_fixed_answer", "use_uvloop"]


def use_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # optional speedup
        pass


class FixedAnswer(asyncio.Protocol):
    """A minimal keep-alive HTTP/1.1 server: reads each request (head and content-length body)
    and writes ``answer``; so cheap it costs the machine almost nothing per request."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self.transport = cast(asyncio.Transport, transport)
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            m = re.search(rb"content-length:\s*(\d+)", self.buf[:end].lower())
            length = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length :]
            self.transport.write(self.answer)


def serve_fixed_answer(port: int, answer: bytes) -> None:
    """Serve ``answer`` on 127.0.0.1:``port`` until killed (run it in a child process)."""
    use_uvloop()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: FixedAnswer(answer), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(run())
