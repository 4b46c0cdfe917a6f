"""``minikn serve``: the Platform that owns the store, controller, API and --watch.

Startup in order, shutdown in reverse. The data path (router, activator), autoscaler and replica
manager plug in where marked: they subscribe to the controller through :class:`ListenerFanOut`
and report replica events through :class:`RevisionFanOut`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from minikn.activator import raise_open_file_limit
from minikn.api.runtimes import default_registry
from minikn.apiserver.client import TOKEN_FILE
from minikn.apiserver.dashboard.routes import add_dashboard_routes
from minikn.apiserver.kube.kubeconfig import kubeconfig
from minikn.apiserver.kube.tls import ensure_certificate, server_ssl_context
from minikn.apiserver.logs import add_logs_route
from minikn.apiserver.parsing import PARSER
from minikn.apiserver.rest import TOKEN_ENV, check_bind, create_api_app
from minikn.apiserver.starts import add_start_times_route
from minikn.config import Settings
from minikn.controlplane.controller import Controller, ControlPlaneListener
from minikn.controlplane.store import StateStore
from minikn.core.clock import Clock, SystemClock
from minikn.core.endpoints import Endpoint
from minikn.core.events import EventSink
from minikn.core.listeners import RevisionListener
from minikn.core.revision import RevisionSpec
from minikn.core.routes import RouteTable
from minikn.platform.dataplane import DataPlane
from minikn.platform.graph_metrics import graph_router_metrics
from minikn.platform.heap import HeapKeeper
from minikn.platform.statelock import StateDirLock
from minikn.platform.watch import DirectoryWatcher
from minikn.telemetry.metrics import Metrics

__all__ = [
    "ListenerFanOut",
    "Platform",
    "PlatformOptions",
    "RevisionFanOut",
    "run_platform",
    "stop_on_signals",
]

log = logging.getLogger("minikn.platform.server")


class ListenerFanOut:
    """The controller's one listener, forwarding to every subscriber (replicas, autoscaler, ...)."""

    def __init__(self) -> None:
        self.subscribers: list[ControlPlaneListener] = []

    def revisions_changed(self, live: Sequence[RevisionSpec], routable: set[str]) -> None:
        for s in self.subscribers:
            s.revisions_changed(live, routable)

    def routes_changed(self, table: RouteTable) -> None:
        for s in self.subscribers:
            s.routes_changed(table)


class RevisionFanOut:
    """The replica manager's RevisionListener: the controller plus any data-path subscriber."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self.subscribers: list[RevisionListener] = []

    def endpoints_changed(self, revision: str, endpoints: Sequence[Endpoint]) -> None:
        for s in self.subscribers:
            s.endpoints_changed(revision, endpoints)

    def revision_ready(self, revision: str) -> None:
        self._controller.revision_ready(revision)
        for s in self.subscribers:
            s.revision_ready(revision)

    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        self._controller.revision_failed(revision, reason, message)
        for s in self.subscribers:
            s.revision_failed(revision, reason, message)

    def revision_recovered(self, revision: str) -> None:
        self._controller.revision_recovered(revision)
        for s in self.subscribers:
            s.revision_recovered(revision)


KUBECONFIG_FILE = "kubeconfig"


@dataclass(frozen=True)
class PlatformOptions:
    """What ``minikn serve`` was asked for (flags over config)."""

    state_dir: Path
    api_host: str = "127.0.0.1"
    api_port: int = 8081
    kube_port: int = -1
    """The HTTPS port of the Kubernetes API (kubectl); -1: none."""
    ingress_host: str = "0.0.0.0"
    ingress_port: int = 8080
    backend: str = "auto"
    watch: Path | None = None
    stop_replicas: bool = True
    """Stop replicas on shutdown (a crash leaves them for the next start to adopt)."""
    token: str | None = field(default=None, repr=False)
    """The API's bearer token; None = a random one, written to ``<state_dir>/api-token``."""
    prestart_parser: bool = False
    """Start the API's body-parsing worker process with the server (``minikn serve``) rather
    than at the first large body (tests and embedded platforms, which rarely send one)."""


class Platform:
    """Everything ``minikn serve`` runs, with an explicit lifecycle."""

    def __init__(
        self, settings: Settings, options: PlatformOptions, *, clock: Clock | None = None
    ) -> None:
        check_bind(options.api_host, options.token)
        self.token = options.token or secrets.token_urlsafe(32)
        """The API's bearer token (clients read it from ``token_file``)."""
        self.token_file = options.state_dir / TOKEN_FILE
        self.state_lock = StateDirLock(options.state_dir)
        self.settings = settings
        self.options = options
        self.clock: Clock = clock or SystemClock()
        self.events = EventSink()
        self.store = StateStore(options.state_dir)
        self.fanout = ListenerFanOut()
        self.controller = Controller(
            settings,
            clock=self.clock,
            store=self.store,
            registry=default_registry(),
            events=self.events,
            listener=self.fanout,
        )
        self.revision_listener = RevisionFanOut(self.controller)
        self.heap = HeapKeeper()
        """Keeps full collections off the loaded state (paused while loading, then frozen)."""
        self.controller.add_change_listener(self.heap.changed)
        self.metrics = Metrics()
        self.api_app = create_api_app(self.controller, token=self.token, bind_host=options.api_host)
        self.api_app.router.add_get("/metrics", self._metrics_handler)
        self.dataplane: DataPlane | None = None
        if options.backend != "none":
            self.dataplane = DataPlane(
                settings,
                clock=self.clock,
                backend=options.backend,  # type: ignore[arg-type]
                state_dir=options.state_dir,
                listener=self.revision_listener,
                events=self.events,
                metrics=self.metrics,
            )
            self.fanout.subscribers.append(self.dataplane)
            self.revision_listener.subscribers.append(self.dataplane.activator_listener)
            self.controller.status_extras = self.dataplane.revision_status
            replicas = self.dataplane.replicas
            add_logs_route(
                self.api_app,
                revisions=self.controller.revisions,
                live=lambda: {r.name for r in self.controller.live()[0]},
                source=lambda rev, follow: replicas.logs(rev, follow=follow),
            )
            add_start_times_route(
                self.api_app, isvc=self.controller.get, start_times=replicas.start_times
            )
        self.dashboard = add_dashboard_routes(
            self.api_app,
            controller=self.controller,
            requests=self.metrics.requests,
            buffered=self.dataplane.activator.buffered if self.dataplane is not None else None,
        )
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.api_port = 0
        self.kube_port = 0
        self.kubeconfig_file = options.state_dir / KUBECONFIG_FILE
        self.ingress_port = 0

    async def _metrics_handler(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        if self.dataplane is not None:
            body += await graph_router_metrics(
                self.controller.live()[0], self.dataplane.replicas.ready_endpoints
            )
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        raise_open_file_limit()  # every proxied request holds two sockets
        self.state_lock.acquire()  # before anything in the state dir is read or written
        await asyncio.to_thread(write_token, self.token_file, self.token)
        with self.heap.loading():  # the state and the routes of every ISVC: all long-lived
            await self.controller.start()
            if self.dataplane is not None:
                self.ingress_port = await self.dataplane.start(
                    self.options.ingress_host, self.options.ingress_port
                )
                log.info(
                    "ingress listening on http://%s:%d",
                    self.options.ingress_host,
                    self.ingress_port,
                )
        self._runner = web.AppRunner(self.api_app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.api_host, self.options.api_port)
        await site.start()
        self.api_port = int(self._runner.addresses[0][1])
        log.info("API listening on http://%s:%d", self.options.api_host, self.api_port)
        if self.options.prestart_parser:
            self.api_app[PARSER].prestart()
        if self.options.kube_port >= 0:
            await self._start_kube_site()
        if self.options.watch is not None:
            watcher = DirectoryWatcher(self.options.watch, self.controller, clock=self.clock)
            self._tasks.append(asyncio.create_task(watcher.run(), name="minikn.platform.watch"))

    async def _start_kube_site(self) -> None:
        """The same API over HTTPS (kubectl sends its token only over TLS), and the kubeconfig
        naming it (``<state_dir>/kubeconfig``, owner-only)."""
        assert self._runner is not None
        host = self.options.api_host
        cert, key = await asyncio.to_thread(ensure_certificate, self.options.state_dir, [host])
        site = web.TCPSite(
            self._runner, host, self.options.kube_port, ssl_context=server_ssl_context(cert, key)
        )
        await site.start()
        self.kube_port = int(self._runner.addresses[-1][1])
        literal = f"[{host}]" if ":" in host else host
        server = f"https://{'127.0.0.1' if host in ('0.0.0.0', '::') else literal}:{self.kube_port}"
        doc = kubeconfig(server, cert.read_bytes(), self.token)
        await asyncio.to_thread(write_token, self.kubeconfig_file, yaml.safe_dump(doc).rstrip())
        log.info("Kubernetes API listening on %s", server)

    async def close(self) -> None:
        if self.state_lock.refused:
            return  # another platform owns the state dir: nothing here started, touch nothing
        for task in reversed(self._tasks):
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.dataplane is not None:
            grace = self.settings.minikn.server.shutdown_grace
            await self.dataplane.close(grace=grace, stop_replicas=self.options.stop_replicas)
        await self.controller.close()
        self.heap.close()
        self.state_lock.release()


def stop_on_signals() -> asyncio.Event:
    """An event SIGTERM or SIGINT sets (on the running loop): when ``minikn serve`` stops."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_platform(settings: Settings, options: PlatformOptions) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    platform = Platform(settings, options)
    stop = stop_on_signals()
    try:  # a failed start (a port in use) still stops what it started
        await platform.start()
        print(f"minikn: API on http://{options.api_host}:{platform.api_port}", flush=True)
        print(f"minikn: API token in {platform.token_file}", flush=True)
        if platform.kube_port:
            print(
                f"minikn: Kubernetes API on https://{options.api_host}:{platform.kube_port} "
                f"(kubeconfig in {platform.kubeconfig_file}; `minikn kubeconfig` merges it)",
                flush=True,
            )
        if platform.dataplane is not None:
            print(
                f"minikn: ingress on http://{options.ingress_host}:{platform.ingress_port} "
                f"(backend: {platform.dataplane.backend.name})",
                flush=True,
            )
        await stop.wait()
    finally:
        log.info("shutting down")
        await platform.close()


def token_from_env() -> str | None:
    """``$MINIKN_API_TOKEN``; None (empty or unset) = ``minikn serve`` makes a random one."""
    return os.environ.get(TOKEN_ENV) or None


def write_token(path: Path, token: str) -> None:
    """Write the token readable by its owner only (0600, the directory 0700 when created), so
    the CLI of the same user finds it and nobody else reads it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
