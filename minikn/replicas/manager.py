"""The replica manager: level-triggered reconcile of desired vs observed replicas per revision.

Each pass plans with the pure :func:`minikn.replicas.plan.plan` and applies the actions; replica
lifecycles (create -> probe -> Ready, stop) run as owned tasks that wake the loop when they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Collection, Sequence

from minikn.config.loader import Settings
from minikn.core.clock import Clock
from minikn.core.coldstart import ColdStart
from minikn.core.endpoints import Endpoint
from minikn.core.events import Event, EventSink
from minikn.core.listeners import RevisionListener
from minikn.core.revision import RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.replicas.backend import ReplicaBackend, spec_hash
from minikn.replicas.gpus import GpuAllocator
from minikn.replicas.lifecycle import StartFailure, bring_up, pull_backoff
from minikn.replicas.logtail import merge_logs
from minikn.replicas.plan import Create, Forget, Stop, WaitGPU, plan
from minikn.replicas.state import ModelStore, ReplicaRecord, RevisionRecord, backoff_seconds
from minikn.replicas.tasks import TaskOwner
from minikn.replicas.types import ReplicaExit, ReplicaSetStatus
from minikn.telemetry.metrics import Metrics

__all__ = ["ModelStore", "ReplicaManager"]

log = logging.getLogger("minikn.replicas.manager")

RESYNC_PERIOD = 1.0
START_TIMES_KEPT = 100
"""Recent start-to-ready durations kept per ISVC component (``start_times``)."""
"""A pass runs at least this often (backoffs expire, GPUs free up) besides on every change."""
USAGE_PERIOD = 2.0


class ReplicaManager:
    """Runs each revision's desired number of replicas on a backend; the autoscaler's Scaler."""

    def __init__(
        self,
        backend: ReplicaBackend,
        *,
        settings: Settings,
        clock: Clock,
        store: ModelStore,
        gpus: GpuAllocator,
        listener: RevisionListener,
        events: EventSink,
        metrics: Metrics,
    ) -> None:
        self._backend = backend
        self._settings = settings
        self._clock = clock
        self._store = store
        self._gpus = gpus
        self._listener = listener
        self._events = events
        self._metrics = metrics
        self._revs: dict[str, RevisionRecord] = {}
        self._usage: dict[str, ResourceUsage] = {}
        self._start_times: dict[tuple[str, str, str], deque[float]] = {}
        self._wake = asyncio.Event()
        self._tasks = TaskOwner(log)
        self._grace = settings.minikn.replicas.stop_grace

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, live: Sequence[RevisionSpec]) -> None:
        """Adopt the replicas of live revisions that still match; remove every other one."""
        await self._backend.start()
        self.sync(live)
        orphans = []
        for handle in await self._backend.list_replicas():
            rev = self._revs.get(handle.revision)
            if rev is None or handle.spec_hash != spec_hash(rev.spec):
                orphans.append(handle)
                continue
            log.info("revision %s: adopting replica %s", handle.revision, handle.replica_id)
            rep = ReplicaRecord(
                handle.replica_id, "Creating", self._clock.monotonic(), handle.gpus, handle
            )
            self._gpus.reserve(handle.replica_id, handle.gpus)
            rev.replicas[rep.replica_id] = rep
            rep.task = self._tasks.spawn(self._run(rev, rep), f"replica-{rep.replica_id}")
        for handle in orphans:
            log.info("removing replica %s of %s", handle.replica_id, handle.revision or "?")
        results = await asyncio.gather(
            *(self._backend.stop(h, grace=self._grace) for h in orphans), return_exceptions=True
        )
        for h, res in zip(orphans, results, strict=True):
            if isinstance(res, Exception):
                log.warning("replica %s: removal failed: %s", h.replica_id, res)
        self._tasks.spawn(self._reconcile_loop(), "replicas-reconcile")
        self._tasks.spawn(self._watch_exits(), "replicas-exits")
        self._tasks.spawn(self._usage_loop(), "replicas-usage")

    async def close(self, *, stop_replicas: bool = True) -> None:
        await self._tasks.close()
        if stop_replicas:
            handles = []
            for rev in self._revs.values():
                for rep in rev.replicas.values():
                    if rep.handle is not None:
                        rep.phase = "Stopping"  # their exits are expected, not crashes
                        handles.append(rep.handle)
            await asyncio.gather(
                *(self._backend.stop(h, grace=self._grace) for h in handles),
                return_exceptions=True,
            )
            for h in handles:
                self._gpus.release(h.replica_id)
        await self._backend.close()

    # -- the Scaler and the wiring's calls ------------------------------------------------

    def sync(self, live: Sequence[RevisionSpec]) -> None:
        names = {spec.name for spec in live}
        for spec in live:
            rev = self._revs.get(spec.name)
            if rev is None:
                self._revs[spec.name] = RevisionRecord(spec)
            else:
                rev.spec, rev.live = spec, True
        for name, rev in self._revs.items():
            if name not in names:
                rev.live = False
        self._wake.set()

    def sync_changed(self, upserted: Sequence[RevisionSpec], removed: Collection[str]) -> None:
        """:meth:`sync` by difference: ``upserted`` are live (new or with a new spec), ``removed``
        no longer are; every other revision stays as it is."""
        revs = self._revs
        for spec in upserted:
            rev = revs.get(spec.name)
            if rev is None:
                revs[spec.name] = RevisionRecord(spec)
            else:
                rev.spec, rev.live = spec, True
        for name in removed:
            gone = revs.get(name)
            if gone is not None:
                gone.live = False
        if upserted or removed:
            self._wake.set()

    def set_desired(self, revision: str, replicas: int) -> None:
        rev = self._revs.get(revision)
        if rev is None or not rev.live:
            log.debug("revision %s: set_desired(%d) for an unknown revision", revision, replicas)
            return
        if rev.desired != replicas:
            log.info("revision %s: desired replicas %s -> %d", revision, rev.desired, replicas)
            rev.desired = max(0, replicas)
            self._wake.set()

    def ready_endpoints(self, revision: str) -> tuple[Endpoint, ...]:
        """The revision's ready replicas' addresses (the platform scrapes graph routers)."""
        rev = self._revs.get(revision)
        return () if rev is None else rev.ready_endpoints()

    def ready_count(self, revision: str) -> int:
        rev = self._revs.get(revision)
        return 0 if rev is None else len(rev.ready_endpoints())

    def usage(self, revision: str) -> ResourceUsage:
        rev = self._revs.get(revision)
        samples = [
            self._usage[r.replica_id]
            for r in (rev.replicas.values() if rev else ())
            if r.phase == "Ready" and r.replica_id in self._usage
        ]
        return ResourceUsage(
            cpu_cores=sum(s.cpu_cores for s in samples),
            memory_bytes=sum(s.memory_bytes for s in samples),
            replicas=len(samples),
        )

    def status(self, revision: str) -> ReplicaSetStatus:
        rev = self._revs.get(revision)
        return ReplicaSetStatus(revision) if rev is None else rev.status()

    def logs(self, revision: str, *, follow: bool) -> AsyncIterator[str]:
        """Every replica's output, each line prefixed with ``[replica-id]``."""
        rev = self._revs.get(revision)
        handles = [r.handle for r in (rev.replicas.values() if rev else ()) if r.handle]
        return merge_logs(self._backend, handles, follow=follow)

    # -- reconcile -------------------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                self.reconcile_once()
            except Exception:
                log.exception("replica reconcile pass failed")
            await self._wait_wake(RESYNC_PERIOD)

    async def _wait_wake(self, period: float) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(period))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in (waiter, sleeper):
                fut.cancel()
            await asyncio.gather(waiter, sleeper, return_exceptions=True)

    def reconcile_once(self) -> None:
        """Plan from the current state and apply the actions (starts tasks, never awaits)."""
        now = self._clock.monotonic()
        busy = [rev for rev in self._revs.values() if not _settled(rev)]
        actions = plan(
            [rev.view() for rev in busy], gpu_free_slots=self._gpus.free_slots(), now=now
        )
        waiting = {a.revision for a in actions if isinstance(a, WaitGPU)}
        for rev in busy:
            if rev.failure and rev.failure[0] == "InsufficientGPU" and rev.spec.name not in waiting:
                rev.failure = None  # enough GPUs now (freed, or fewer replicas wanted)
                self._listener.revision_recovered(rev.spec.name)
        for action in actions:
            rev = self._revs[action.revision]
            if isinstance(action, Create):
                self._create(rev, action.gpus, now)
            elif isinstance(action, Stop):
                self._stop(rev, rev.replicas[action.replica_id])
            elif isinstance(action, WaitGPU):
                message = (
                    f"0/{len(self._gpus.inventory)} GPUs available: each replica needs "
                    f"{action.needed} GPU(s), {action.free} free"
                )
                if rev.gpu_wait_since is None:
                    rev.gpu_wait_since = now
                self._set_failure(rev, "InsufficientGPU", message)
            elif isinstance(action, Forget):
                log.info("revision %s: no longer live, forgotten", action.revision)
                del self._revs[action.revision]
        for rev in busy:
            if rev.spec.name not in waiting:
                rev.gpu_wait_since = None

    def _create(self, rev: RevisionRecord, gpus: tuple[str, ...], now: float) -> None:
        replica_id = f"{rev.spec.name}-{secrets.token_hex(3)}"
        rep = ReplicaRecord(replica_id, "Creating", self._clock.monotonic(), gpus)
        since, rev.gpu_wait_since = rev.gpu_wait_since, None
        rep.phases["gpu"] = now - since if since is not None else 0.0
        self._gpus.reserve(replica_id, gpus)
        rev.replicas[replica_id] = rep
        rep.task = self._tasks.spawn(self._run(rev, rep), f"replica-{replica_id}")

    def _stop(self, rev: RevisionRecord, rep: ReplicaRecord) -> None:
        log.info("revision %s: stopping replica %s", rev.spec.name, rep.replica_id)
        rep.phase = "Stopping"
        self._publish(rev)  # out of the endpoints before SIGTERM
        self._tasks.spawn(self._stop_replica(rev, rep), f"stop-{rep.replica_id}")

    async def _stop_replica(self, rev: RevisionRecord, rep: ReplicaRecord) -> None:
        if rep.task is not None and not rep.task.done():
            rep.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rep.task
        try:
            if rep.handle is not None:
                await self._backend.stop(rep.handle, grace=self._grace)
        except Exception as exc:
            self._metrics.backend_errors.labels(self._backend.name, "stop").inc()
            log.warning("replica %s: stop failed: %s", rep.replica_id, exc)
        finally:
            self._drop(rev, rep)

    def _drop(self, rev: RevisionRecord, rep: ReplicaRecord) -> None:
        rev.replicas.pop(rep.replica_id, None)
        self._gpus.release(rep.replica_id)
        self._usage.pop(rep.replica_id, None)
        self._publish(rev)
        self._wake.set()

    async def _run(self, rev: RevisionRecord, rep: ReplicaRecord) -> None:
        """Create (unless adopted) and probe one replica until it is Ready."""
        started = self._clock.monotonic()
        deadline = started + self._settings.deployment.progress_deadline
        try:
            await bring_up(
                self._backend, self._store, rev.spec, rep, clock=self._clock, deadline=deadline
            )
        except StartFailure as failure:
            if failure.backend_error:
                self._metrics.backend_errors.labels(self._backend.name, "create").inc()
            await self._start_failed(rev, rep, failure)
            return
        self._became_ready(rev, rep, self._clock.monotonic() - started)

    def start_times(self, namespace: str, isvc: str, component: str) -> list[float]:
        """The exact start-to-ready seconds of the component's recent replicas, oldest first."""
        return list(self._start_times.get((namespace, isvc, component), ()))

    def last_cold_start(self, revision: str) -> ColdStart | None:
        """The phases of the revision's most recent replica start (None before any)."""
        rev = self._revs.get(revision)
        return rev.last_cold_start if rev is not None else None

    def _record_cold_start(self, rev: RevisionRecord, rep: ReplicaRecord) -> None:
        phases = rep.phases
        if "create" not in phases:
            return  # adopted: its start happened before this process
        spec = rev.spec
        rep.cold_start = rev.last_cold_start = ColdStart(
            rep.replica_id,
            gpu=phases.get("gpu", 0.0),
            storage=phases.get("storage", 0.0),
            create=phases["create"],
            load=phases.get("load", 0.0),
            ready_at=self._clock.monotonic(),
        )
        for phase, seconds in rep.cold_start.phases().items():
            self._metrics.cold_start_phase.labels(
                spec.namespace, spec.isvc, spec.component, spec.name, phase
            ).observe(seconds)

    def _became_ready(self, rev: RevisionRecord, rep: ReplicaRecord, took: float) -> None:
        spec = rev.spec
        rep.phase = "Ready"
        rev.failures = 0
        self._record_cold_start(rev, rep)
        self._metrics.start_to_ready.labels(
            spec.namespace, spec.isvc, spec.name, self._backend.name
        ).observe(took)
        key = (spec.namespace, spec.isvc, spec.component)
        self._start_times.setdefault(key, deque(maxlen=START_TIMES_KEPT)).append(took)
        log.info("revision %s: replica %s ready in %.3fs", spec.name, rep.replica_id, took)
        self._event(rev, "Normal", "ReplicaReady", f"ready in {took:.2f}s", rep.replica_id)
        self._publish(rev)
        if not rev.ever_ready:
            rev.ever_ready = True
            self._listener.revision_ready(spec.name)
        if rev.failure is not None:
            rev.failure = None
            self._listener.revision_recovered(spec.name)

    async def _start_failed(
        self, rev: RevisionRecord, rep: ReplicaRecord, failure: StartFailure
    ) -> None:
        log.warning(
            "revision %s: replica %s failed: %s", rev.spec.name, rep.replica_id, failure.message
        )
        if rep.handle is not None:
            with contextlib.suppress(Exception):
                await self._backend.stop(rep.handle, grace=0)
        rev.failures += 1
        reason, message = pull_backoff(failure.reason, failure.message, rev.failures)
        backoff = backoff_seconds(rev.failures)
        rev.backoff_until = self._clock.monotonic() + backoff
        self._set_failure(rev, reason, message)
        if failure.exited and rev.failures == 2 and reason != "CrashLoopBackOff":
            # The replica failed again for the reason it stated (a model that does not load):
            # the condition keeps that reason and message; the restart loop is one event, as
            # Kubernetes' "Back-off restarting failed container".
            self._event(
                rev, "Warning", "CrashLoopBackOff",
                f"back-off {backoff:.0f}s restarting failed replicas ({reason})", rep.replica_id,
            )  # fmt: skip
        self._drop(rev, rep)

    def _set_failure(self, rev: RevisionRecord, reason: str, message: str) -> None:
        """Report a failure condition once; the listener (the controller) records its event."""
        if rev.failure == (reason, message):
            return
        rev.failure = (reason, message)
        self._listener.revision_failed(rev.spec.name, reason, message)

    def _publish(self, rev: RevisionRecord) -> None:
        endpoints = rev.ready_endpoints()
        if endpoints != rev.endpoints:
            rev.endpoints = endpoints
            self._listener.endpoints_changed(rev.spec.name, endpoints)

    def _event(
        self, rev: RevisionRecord, kind: str, reason: str, message: str, replica: str | None
    ) -> None:
        spec = rev.spec
        self._events.emit(
            Event(
                time=self._clock.time(), type="Warning" if kind == "Warning" else "Normal",
                reason=reason, message=message, isvc=spec.isvc, namespace=spec.namespace,
                revision=spec.name, replica=replica,
            )
        )  # fmt: skip

    # -- watching ----------------------------------------------------------------------------

    async def _watch_exits(self) -> None:
        async for ex in self._backend.exits():
            self._on_exit(ex)

    def _on_exit(self, ex: ReplicaExit) -> None:
        rev = self._revs.get(ex.revision)
        rep = rev.replicas.get(ex.replica_id) if rev else None
        if rev is None or rep is None or rep.phase == "Stopping":
            return
        rep.exit_code = ex.exit_code
        rep.exited.set()
        if rep.phase != "Ready":
            return  # the replica's own task reports the crash (CrashLoopBackOff)
        message = f"replica {rep.replica_id} exited with code {ex.exit_code}; replacing it"
        log.warning("revision %s: %s", rev.spec.name, message)
        self._metrics.backend_errors.labels(self._backend.name, "crash").inc()
        self._event(rev, "Warning", "ReplicaCrashed", message, rep.replica_id)
        rep.phase = "Stopping"
        self._publish(rev)
        self._tasks.spawn(self._stop_replica(rev, rep), f"remove-{rep.replica_id}")

    async def _usage_loop(self) -> None:
        while True:
            await self._clock.sleep(USAGE_PERIOD)
            for rev in list(self._revs.values()):
                for rep in list(rev.replicas.values()):
                    if rep.phase != "Ready" or rep.handle is None:
                        continue
                    try:
                        self._usage[rep.replica_id] = await self._backend.usage(rep.handle)
                    except Exception as exc:
                        log.debug("replica %s: usage unavailable: %s", rep.replica_id, exc)


def _settled(rev: RevisionRecord) -> bool:
    """Nothing for a reconcile pass to do: a live revision without replicas that wants none (or
    has no desired scale yet), neither waiting for GPUs nor failed for the lack of them. ``plan``
    gives it no action and it takes no GPU, so a pass leaves it out: thousands of revisions at
    zero cost a check each, not a view and a sort."""
    return (
        rev.live
        and not rev.replicas
        and not rev.desired
        and rev.gpu_wait_since is None
        and (rev.failure is None or rev.failure[0] != "InsufficientGPU")
    )
