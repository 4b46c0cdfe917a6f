"""The runtime half of ``minikn serve``: replicas, autoscaler, activator and router, wired.

Construction order follows the dependencies (each part gets what it calls):

    ReplicaManager(listener=revisions)      -> reports endpoints/ready/failed upward
    Autoscaler(scaler=replicas)             -> sets each revision's desired replicas
    Activator(stats=autoscaler, poker=...)  -> reports concurrency, pokes on a cold request
    Router(activator)                       -> the ingress

The controller's changes reach every part through :class:`DataPlane` (a ControlPlaneListener);
replica events reach the controller and the activator through the platform's RevisionFanOut.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from minikn.activator import Activator
from minikn.activator.agent import AgentMiddleware, TraceMiddleware, trace_middleware
from minikn.autoscaler.loop import Autoscaler
from minikn.config import Settings
from minikn.core.cadence import (
    REPORT_INTERVAL,
    REPORT_LEAD,
    TICK_INTERVAL,
    first_report,
    grid_anchor,
)
from minikn.core.clock import Clock
from minikn.core.delta import identity_delta
from minikn.core.endpoints import Endpoint
from minikn.core.events import EventSink
from minikn.core.listeners import RevisionListener
from minikn.core.revision import RevisionSpec
from minikn.core.routes import RouteTable
from minikn.modelserver.storage import ModelStore
from minikn.replicas import GpuAllocator, ReplicaManager, select_backend
from minikn.replicas.docker_spec import INGRESS_ALIAS
from minikn.replicas.gpus import discover_gpus
from minikn.router import Router
from minikn.telemetry.metrics import Metrics
from minikn.telemetry.tracing import new_tracer, tracing_env

__all__ = ["ActivatorListener", "DataPlane", "with_predictor_args"]

log = logging.getLogger("minikn.platform.dataplane")

BackendKind = Literal["auto", "docker", "process"]


def _name(spec: RevisionSpec) -> str:
    return spec.name


def _has_arg(args: Sequence[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in args)


def with_predictor_args(spec: RevisionSpec, ingress: str) -> RevisionSpec:
    """KServe's transformer/explainer arguments, the predictor reached through minikn's ingress.

    KServe appends ``--model_name <isvc>`` and ``--predictor_host <isvc>-predictor.<ns>`` unless
    the container sets them, and always ``--http_port 8080``. Here the predictor host is the
    ingress (``ingress`` = host:port reachable from the replica) with the route in the path:
    ``<ingress>/_host/<isvc>-predictor.<ns>``, so a client that builds
    ``http://{predictor_host}/v1/models/...`` (as KServe's SDK does) goes through the router,
    where the call is split, metered and autoscaled like any other. An InferenceGraph's router
    gets ``--ingress <ingress>`` instead: it sends every step on a platform host there. Pure.
    """
    if spec.component == "router":
        if _has_arg(spec.container.args, "--ingress"):
            return spec
        routed = spec.container.model_copy(
            update={"args": (*spec.container.args, "--ingress", ingress)}
        )
        return spec.model_copy(update={"container": routed})
    if spec.predictor_host is None:
        return spec
    args = list(spec.container.args)
    if not _has_arg(args, "--model_name"):
        args += ["--model_name", spec.isvc]
    if not _has_arg(args, "--predictor_host"):
        args += ["--predictor_host", f"{ingress}/_host/{spec.isvc}-predictor.{spec.namespace}"]
    args += ["--http_port", str(spec.container.port)]
    container = spec.container.model_copy(update={"args": tuple(args)})
    return spec.model_copy(update={"container": container})


_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def _containers_listen_at(host: str, gateway: object) -> str | None:
    """Where the ingress must listen too for containers (transformers, graph routers) to reach
    it: the Docker network's gateway, unless the ingress already listens on every interface or
    there (pure)."""
    if not isinstance(gateway, str) or not gateway or host in _WILDCARDS or host == gateway:
        return None
    return gateway


class ActivatorListener:
    """Replica events the data path acts on (the controller gets them from the fan-out): the
    activator's endpoints and failures, and the autoscaler's replica-count gauges."""

    def __init__(self, activator: Activator, autoscaler: Autoscaler | None = None) -> None:
        self._activator = activator
        self._autoscaler = autoscaler

    def endpoints_changed(self, revision: str, endpoints: Sequence[Endpoint]) -> None:
        self._activator.set_endpoints(revision, endpoints)
        if self._autoscaler is not None:
            self._autoscaler.replicas_changed(revision)

    def revision_ready(self, revision: str) -> None:
        self._activator.revision_recovered(revision)

    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        self._activator.revision_failed(revision, reason, message)

    def revision_recovered(self, revision: str) -> None:
        self._activator.revision_recovered(revision)


class DataPlane:
    """Everything that runs replicas and carries requests, driven by the controller."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        backend: BackendKind,
        state_dir: Path,
        listener: RevisionListener,
        events: EventSink,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self._clock = clock
        rcfg = settings.minikn.replicas
        self.backend = select_backend(backend, settings, state_dir=state_dir)
        inventory = rcfg.gpus if rcfg.gpus is not None else discover_gpus()
        cache = Path(settings.minikn.storage.cache_dir or state_dir / "models")
        self.replicas = ReplicaManager(
            self.backend,
            settings=settings,
            clock=clock,
            store=ModelStore(settings.minikn.storage, cache),
            gpus=GpuAllocator(inventory, sharing=rcfg.gpu_sharing),
            listener=listener,
            events=events,
            metrics=metrics,
        )
        self.autoscaler = Autoscaler(
            settings, clock=clock, scaler=self.replicas, listener=listener, metrics=metrics
        )
        # KServe's agent (payload logger, batcher) per revision, inside W3C trace propagation.
        self.agents = AgentMiddleware(metrics=metrics, clock=clock)
        obs = settings.observability
        self.tracer = new_tracer(
            obs.tracing_protocol, obs.tracing_endpoint, obs.tracing_sampling_rate,
            service="minikn", on_dropped=metrics.spans_dropped.inc,
        )  # fmt: skip
        self._otel_env = tuple(
            tracing_env(obs.tracing_protocol, obs.tracing_endpoint, obs.tracing_sampling_rate)
            .items()
        )  # fmt: skip
        traces = trace_middleware if self.tracer is None else TraceMiddleware(tracer=self.tracer)
        self.activator = Activator(
            settings,
            clock=clock,
            stats=self.autoscaler,
            poker=self.autoscaler,
            metrics=metrics,
            middlewares=[traces, self.agents],
        )
        self.router = Router(settings, self.activator, clock=clock, metrics=metrics)
        self.activator_listener = ActivatorListener(self.activator, self.autoscaler)
        self._live: dict[str, RevisionSpec] = {}
        self._live_list: tuple[RevisionSpec, ...] = ()
        """The live revisions as last published (the next publish is compared with it)."""
        self._routable: set[str] = set()
        self._latest: tuple[Sequence[RevisionSpec], set[str]] = ((), set())
        self._started = False
        self._ingress = ""
        """host:port of the ingress as replicas reach it (set once the router listens)."""
        self._autoscaler_task: asyncio.Task[None] | None = None

    # -- ControlPlaneListener --------------------------------------------------------------

    def revisions_changed(self, live: Sequence[RevisionSpec], routable: set[str]) -> None:
        """Level-triggered: make every part hold exactly the live revisions.

        Only revisions that are new, changed (another spec object) or changed routability are
        upserted, and only those and the removed ones reach the replica manager: the delta is
        found by identity (:func:`~minikn.core.delta.identity_delta`), so a publish after one
        apply among thousands of revisions costs a walk of identity checks, not a comparison and
        a replica spec per revision."""
        self._latest = (live, routable)
        if not self._started:
            return  # start() applies the latest state once the replicas are adopted
        changed, gone = identity_delta(self._live_list, live, _name)
        current = self._live
        for name in gone:
            del current[name]
        for spec in changed:
            current[spec.name] = spec
        if routable != self._routable:
            upserting = {spec.name for spec in changed}
            for name in routable ^ self._routable:
                flipped = current.get(name)
                if flipped is not None and name not in upserting:
                    changed.append(flipped)
            self._routable = set(routable)
        self._live_list = tuple(live)
        # Replicas first: the autoscaler's upsert sets the initial scale on them at once.
        if changed or gone:
            self.replicas.sync_changed([self._replica_spec(spec) for spec in changed], gone)
        for name in gone:
            self.autoscaler.remove(name)
            self.activator.remove_revision(name)
            self.agents.discard(name)
        for spec in changed:
            self.activator.upsert_revision(spec)
            self.autoscaler.upsert(spec, routable=spec.name in routable)

    def routes_changed(self, table: RouteTable) -> None:
        self.router.update_routes(table)

    def _replica_spec(self, spec: RevisionSpec) -> RevisionSpec:
        """What a replica runs: KServe's predictor arguments, and the OTLP settings when
        tracing is on (the ``OTEL_*`` variables the model server and KServe's read)."""
        spec = with_predictor_args(spec, self._ingress)
        if not self._otel_env:
            return spec
        names = {k for k, _ in spec.container.env}
        extra = tuple((k, v) for k, v in self._otel_env if k not in names)
        container = spec.container.model_copy(update={"env": (*spec.container.env, *extra)})
        return spec.model_copy(update={"container": container})

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Adopt replicas, start the loops and the ingress; returns the ingress port."""
        # Both loops on one grid: each stats report 50 ms before a tick (minikn.core.cadence).
        now = self._clock.monotonic()
        anchor = grid_anchor(now)
        first = first_report(anchor)
        await self.activator.start(first_report=first)
        log.info(
            "stats reported every %g s from +%.3f s; autoscaler ticks every %g s, %g s after one",
            REPORT_INTERVAL, first - now, TICK_INTERVAL, REPORT_LEAD,
        )  # fmt: skip
        bound = await self.router.start(host, port)
        alias = INGRESS_ALIAS if self.backend.name == "docker" else "127.0.0.1"
        self._ingress = f"{alias}:{bound}"
        live, routable = self._latest
        await self.replicas.start([self._replica_spec(spec) for spec in live])
        # Known once the backend started (it reads the Docker network).
        extra = _containers_listen_at(host, getattr(self.backend, "ingress_bind", None))
        if extra is not None:
            try:
                await self.router.also_listen(extra, bound)
            except OSError as exc:
                log.warning(
                    "containers cannot reach the ingress at %s:%d (%s): listen on 0.0.0.0 for "
                    "transformers and graph routers in containers", extra, bound, exc,
                )  # fmt: skip
        self._started = True
        self.revisions_changed(live, routable)
        self._autoscaler_task = asyncio.create_task(
            self.autoscaler.run(anchor), name="minikn.autoscaler.run"
        )
        self._autoscaler_task.add_done_callback(_log_crash)
        return bound

    async def close(self, *, grace: float, stop_replicas: bool = True) -> None:
        """Reverse of start: stop taking requests, drain, stop scaling, stop replicas."""
        await self.router.close(grace=grace)
        if self._autoscaler_task is not None:
            self._autoscaler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._autoscaler_task
            self._autoscaler_task = None
        await self.agents.close()
        await self.activator.close()
        await self.replicas.close(stop_replicas=stop_replicas)
        if self.tracer is not None:
            await asyncio.to_thread(self.tracer.shutdown)

    # -- views -----------------------------------------------------------------------------

    def revision_status(self, revision: str) -> dict[str, Any]:
        """Per-revision replicas and autoscaler numbers for the API and ``describe``."""
        out: dict[str, Any] = {}
        rs = self.replicas.status(revision)
        out["replicas"] = {
            "desired": rs.desired,
            "ready": rs.ready,
            "pending": rs.pending,
            "reason": rs.reason,
            "message": rs.message,
        }
        scaler = self.autoscaler.status(revision)
        if scaler is not None:
            out["autoscaler"] = dataclasses.asdict(scaler)
        cold = self.last_cold_start(revision)
        if cold is not None:
            out["coldStart"] = cold
        return out

    def last_cold_start(self, revision: str) -> dict[str, Any] | None:
        """The revision's last cold start by phase (seconds): the replica manager's measure, and
        the activator's handover once a request waited for that replica."""
        cold = self.replicas.last_cold_start(revision)
        if cold is None:
            return None
        handed = self.activator.last_cold_start(revision)
        handover = None
        if handed is not None and handed[0] == cold.replica_id:
            handover = handed[1].get("handover")
        return {"replica": cold.replica_id, "phases": cold.phases(handover)}


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("autoscaler loop crashed", exc_info=task.exception())
