"""An in-tree fake backend: each replica is a tiny HTTP server on 127.0.0.1 answering 200.

For tests of the replica manager and of the platform wiring without Docker or subprocesses.
``refuse`` makes ``create`` fail as an engine would (ImageNotFound, NoGPURuntime ...);
``crash(replica_id)`` ends a replica and reports the exit like a real backend; ``fail_start``
makes new replicas exit at once with the given code and last log lines (a model that does not load).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from minikn.core.revision import RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.replicas.backend import replica_labels
from minikn.replicas.types import ReplicaExit, ReplicaHandle, ReplicaStartError

__all__ = ["FakeBackend"]

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"


class FakeBackend:
    """Replicas as in-process asyncio servers."""

    name = "fake"

    def __init__(self) -> None:
        self.refuse: Callable[[RevisionSpec], ReplicaStartError | None] = lambda spec: None
        self.created: list[tuple[str, Path | None, tuple[str, ...]]] = []
        self.stopped: list[str] = []
        self.on_stop: Callable[[ReplicaHandle], None] = lambda handle: None
        self.fail_start: Callable[[RevisionSpec], tuple[int, list[str]] | None] = lambda s: None
        self._last_words: dict[str, list[str]] = {}
        self._servers: dict[str, asyncio.Server] = {}
        self._handles: dict[str, ReplicaHandle] = {}
        self._exits: asyncio.Queue[ReplicaExit] = asyncio.Queue()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(
        self,
        spec: RevisionSpec,
        replica_id: str,
        *,
        model_dir: Path | None,
        gpus: Sequence[str] = (),
    ) -> ReplicaHandle:
        refusal = self.refuse(spec)
        if refusal is not None:
            raise refusal
        self.created.append((replica_id, model_dir, tuple(gpus)))

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(_OK)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = int(server.sockets[0].getsockname()[1])
        handle = ReplicaHandle(
            replica_id=replica_id, revision=spec.name, backend=self.name, ref=replica_id,
            host="127.0.0.1", port=port, labels=replica_labels(spec, replica_id, gpus),
            gpus=tuple(gpus),
        )  # fmt: skip
        self._servers[replica_id] = server
        self._handles[replica_id] = handle
        failing = self.fail_start(spec)
        if failing is not None:
            code, self._last_words[replica_id] = failing
            await self.crash(replica_id, code)
        return handle

    async def _close_server(self, replica_id: str) -> None:
        server = self._servers.pop(replica_id, None)
        if server is not None:
            server.close()
            await server.wait_closed()

    async def stop(self, handle: ReplicaHandle, *, grace: float) -> None:
        self.on_stop(handle)
        self.stopped.append(handle.replica_id)
        self._handles.pop(handle.replica_id, None)
        await self._close_server(handle.replica_id)

    async def crash(self, replica_id: str, exit_code: int = 137) -> None:
        """End a replica as a crash would, and report it."""
        handle = self._handles.pop(replica_id)
        await self._close_server(replica_id)
        self._exits.put_nowait(ReplicaExit(replica_id, handle.revision, exit_code, "crashed"))

    async def list_replicas(self) -> list[ReplicaHandle]:
        return list(self._handles.values())

    async def exec(self, handle: ReplicaHandle, command: Sequence[str], *, limit_s: float) -> int:
        return 0

    async def logs(
        self, handle: ReplicaHandle, *, follow: bool, tail: int = 200
    ) -> AsyncIterator[str]:
        yield f"fake replica {handle.replica_id} on port {handle.port}"
        for line in self._last_words.get(handle.replica_id, ())[-tail:]:
            yield line

    async def usage(self, handle: ReplicaHandle) -> ResourceUsage:
        return ResourceUsage(cpu_cores=0.5, memory_bytes=1 << 20, replicas=1)

    async def exits(self) -> AsyncIterator[ReplicaExit]:
        while True:
            yield await self._exits.get()
