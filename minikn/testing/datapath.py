"""A data path wired for tests and benchmarks: Router + Activator + a tiny local replica manager.

:class:`LocalReplicas` plays the autoscaler (a poke at zero replicas asks for one) and the replica
manager (``set_desired`` starts real local servers through a factory, reports them ready through
``Activator.set_endpoints`` and measures each replica's own create-to-ready time). Scale from
zero is thus exercised with real cold starts over real sockets::

    async with running_datapath(table, specs, factory) as dp:
        ...  # send requests to f"http://127.0.0.1:{dp.port}"
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from minikn.activator import Activator, Middleware
from minikn.config import Settings
from minikn.core.clock import Clock, SystemClock
from minikn.core.endpoints import Endpoint, RevisionStats
from minikn.core.revision import RevisionSpec
from minikn.core.routes import RouteTable
from minikn.router.router import Router
from minikn.telemetry.metrics import Metrics

__all__ = ["DataPath", "LocalReplicas", "ReplicaFactory", "StartedReplica", "running_datapath"]

log = logging.getLogger("minikn.testing.datapath")


@dataclass
class StartedReplica:
    """A running local replica: where it listens and how to stop it."""

    endpoint: Endpoint
    stop: Callable[[], Awaitable[None]]


ReplicaFactory = Callable[[RevisionSpec, str], Awaitable[StartedReplica]]
"""Start one replica of a revision (given the replica id) and return once it is ready."""


@dataclass
class LocalReplicas:
    """Autoscaler stand-in (ScalePoker, StatsSink) and replica manager stand-in (set_desired)."""

    factory: ReplicaFactory
    specs: dict[str, RevisionSpec] = field(default_factory=dict)
    activator: Activator | None = None
    running: dict[str, list[StartedReplica]] = field(default_factory=dict)
    stats: list[RevisionStats] = field(default_factory=list)
    pokes: list[str] = field(default_factory=list)
    ready_seconds: list[float] = field(default_factory=list)
    """Each replica's own create-to-ready time."""
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _seq: int = 0

    def record(self, stats: RevisionStats) -> None:
        self.stats.append(stats)

    def poke(self, revision: str) -> None:
        self.pokes.append(revision)
        if not self.running.get(revision):
            self.set_desired(revision, 1)

    def set_desired(self, revision: str, replicas: int) -> None:
        task = asyncio.get_running_loop().create_task(
            self._scale(revision, replicas), name=f"local-replicas-{revision}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scale(self, revision: str, replicas: int) -> None:
        current = self.running.setdefault(revision, [])
        try:
            while len(current) < replicas:
                self._seq += 1
                started = time.perf_counter()
                replica = await self.factory(self.specs[revision], f"{revision}-{self._seq}")
                self.ready_seconds.append(time.perf_counter() - started)
                current.append(replica)
                self._publish(revision)
            while len(current) > replicas:
                replica = current.pop()
                self._publish(revision)
                await replica.stop()
        except Exception:
            log.exception("local replicas: scaling %s to %d failed", revision, replicas)

    def _publish(self, revision: str) -> None:
        if self.activator is not None:
            endpoints = [r.endpoint for r in self.running.get(revision, [])]
            self.activator.set_endpoints(revision, endpoints)

    async def kill(self, revision: str) -> None:
        """Stop every replica of ``revision`` without telling the activator (a crash)."""
        for replica in self.running.pop(revision, []):
            await replica.stop()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for revision in list(self.running):
            await self.kill(revision)


@dataclass
class DataPath:
    router: Router
    activator: Activator
    replicas: LocalReplicas
    metrics: Metrics
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def running_datapath(
    table: RouteTable,
    specs: Sequence[RevisionSpec],
    factory: ReplicaFactory,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    middlewares: Sequence[Middleware] = (),
    warm: Sequence[str] = (),
) -> AsyncIterator[DataPath]:
    """Router + Activator on 127.0.0.1 (port 0); revisions in ``warm`` start with one replica."""
    settings = settings if settings is not None else Settings()
    clock = clock if clock is not None else SystemClock()
    metrics = Metrics()
    replicas = LocalReplicas(factory, {s.name: s for s in specs})
    activator = Activator(
        settings,
        clock=clock,
        stats=replicas,
        poker=replicas,
        metrics=metrics,
        middlewares=middlewares,
    )
    replicas.activator = activator
    for spec in specs:
        activator.upsert_revision(spec)
    router = Router(settings, activator, clock=clock, metrics=metrics, rng=rng)
    router.update_routes(table)
    await activator.start()
    try:
        port = await router.start("127.0.0.1", 0)
        for name in warm:
            await replicas._scale(name, 1)
        yield DataPath(router, activator, replicas, metrics, port)
    finally:
        await router.close()
        await activator.close()
        await replicas.close()
