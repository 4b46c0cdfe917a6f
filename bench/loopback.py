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
    and answers ``answer``; so cheap it costs the machine almost nothing per request (pipelined
    requests that came in one read are answered in one write, and taken off the buffer through an
    offset, so a batch costs linear time)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its interface.
        self.transport = cast(asyncio.Transport, transport)
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        at = answered = 0
        while True:
            end = buf.find(b"\r\n\r\n", at)
            if end < 0:
                break
            m = _LENGTH.search(buf, at, end)
            length = int(m.group(1)) if m else 0
            if len(buf) < end + 4 + length:
                break
            at = end + 4 + length
            answered += 1
        if answered:
            self.transport.write(self.answer * answered)
        self.buf = buf[at:]


_LENGTH = re.compile(rb"(?i)content-length:[ \t]*(\d+)")


def serve_fixed_answer(port: int, answer: bytes) -> None:
    """Serve ``answer`` on 127.0.0.1:``port`` until killed (run it in a child process)."""
    use_uvloop()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: FixedAnswer(answer), "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(run())
