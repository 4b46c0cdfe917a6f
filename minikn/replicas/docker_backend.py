"""Replicas as Docker containers (docker SDK; every blocking call runs in a thread)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import psutil

from minikn.config.local import ReplicasConfig
from minikn.core.revision import RevisionSpec
from minikn.core.usage import ResourceUsage
from minikn.replicas.backend import (
    LABEL_GPUS,
    LABEL_GRPC_PORT,
    LABEL_PORT,
    default_state_dir,
    platform_id,
)
from minikn.replicas.docker_spec import (
    close_stream,
    container_config,
    engine_path,
    in_docker,
    is_gpu_refusal,
    replica_user,
)
from minikn.replicas.types import (
    BUILT_HERE,
    LABEL_MANAGED,
    LABEL_PLATFORM,
    LABEL_REPLICA,
    LABEL_REVISION,
    BackendError,
    ErrImagePull,
    ImageNotFound,
    NoGPURuntime,
    ReplicaExit,
    ReplicaHandle,
    ReplicaStartError,
)

__all__ = ["DockerBackend"]

log = logging.getLogger("minikn.replicas.docker")

AddressMode = Literal["name", "ip", "published"]


class DockerBackend:
    """Containers on a dedicated network, labelled for adoption.

    Every container and network it creates carries ``minikn.io/platform=<platform>``, and it
    lists, watches, adopts and removes only containers with that label: platforms with different
    state dirs (and the test suite) share one engine without touching each other's replicas.
    """

    name = "docker"

    def __init__(
        self, config: ReplicasConfig, *, client: Any = None, platform: str | None = None
    ) -> None:
        self._config = config
        self._client = client
        self.platform = platform or platform_id(default_state_dir())
        self._ours = [f"{LABEL_MANAGED}=true", f"{LABEL_PLATFORM}={self.platform}"]
        self._mode: AddressMode = "published"
        self._own_mounts: list[dict[str, Any]] = []
        self._ingress_address = "host-gateway"
        self.ingress_bind: str | None = None
        """The host address containers reach the ingress at (the network's gateway, ``ip``
        mode): an ingress listening on loopback only listens here too."""
        self._exits: asyncio.Queue[ReplicaExit] = asyncio.Queue()
        self._watch: asyncio.Task[None] | None = None
        self._events: Any = None
        self._prev_cpu: dict[str, tuple[int, int]] = {}
        self._pump_executor = ThreadPoolExecutor(1, thread_name_prefix="minikn-docker-events")

    @property
    def client(self) -> Any:
        if self._client is None:
            from docker.client import from_env

            self._client = from_env(timeout=30)
        return self._client

    async def start(self) -> None:
        await asyncio.to_thread(self._ensure_network, self._config.docker_network, False)
        self._mode = await asyncio.to_thread(self._address_mode)
        log.info("docker backend: reaching replicas by %s", self._mode)
        if self._mode == "name":
            self._own_mounts, self._ingress_address = await asyncio.to_thread(self._read_self)
        self._watch = asyncio.create_task(self._watch_exits(), name="minikn-docker-exits")

    def _address_mode(self) -> AddressMode:
        """``name`` inside a container on the network, ``ip`` when the bridge is a local
        interface (Linux hosts: no proxy in the data path), else ``published`` 127.0.0.1 ports.
        """
        if in_docker(self.client):
            return "name"
        net = self.client.networks.get(self._config.docker_network)
        gateways = {c.get("Gateway") for c in (net.attrs.get("IPAM", {}).get("Config") or [])}
        local = {a.address for addrs in psutil.net_if_addrs().values() for a in addrs}
        ours = sorted(str(g) for g in gateways & local)
        if not ours:
            return "published"
        # Containers reach the ingress at the network's gateway (this host, on the network).
        self._ingress_address = self.ingress_bind = ours[0]
        return "ip"

    def _read_self(self) -> tuple[list[dict[str, Any]], str]:
        """Our own container's mounts and address on the replica network (we run in a container
        of this engine). Blocking."""
        import docker.errors

        try:
            me = self.client.containers.get(socket.gethostname())
        except docker.errors.DockerException as exc:
            log.warning("cannot inspect our own container (%s): model dirs bind as is", exc)
            return [], "host-gateway"
        networks = me.attrs.get("NetworkSettings", {}).get("Networks") or {}
        own = networks.get(self._config.docker_network) or {}
        address = own.get("IPAddress") or "host-gateway"
        return list(me.attrs.get("Mounts") or []), address

    async def close(self) -> None:
        if self._events is not None:
            close_stream(self._events)
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        self._pump_executor.shutdown(wait=False, cancel_futures=True)

    def _ensure_network(self, name: str, internal: bool) -> None:
        import docker.errors

        try:
            self.client.networks.get(name)
        except docker.errors.NotFound:
            log.info("creating docker network %s (internal=%s)", name, internal)
            with contextlib.suppress(docker.errors.APIError):  # lost a race with another creator
                self.client.networks.create(
                    name, driver="bridge", internal=internal,
                    labels={LABEL_MANAGED: "true", LABEL_PLATFORM: self.platform},
                )  # fmt: skip

    def _network_for(self, spec: RevisionSpec) -> str:
        base = self._config.docker_network
        return f"{base}-internal" if spec.network_internal else base

    async def create(
        self,
        spec: RevisionSpec,
        replica_id: str,
        *,
        model_dir: Path | None,
        gpus: Sequence[str] = (),
    ) -> ReplicaHandle:
        network = self._network_for(spec)
        # Internal networks publish no ports: reach those replicas on their bridge address.
        publish = self._mode == "published" and not spec.network_internal
        user = await asyncio.to_thread(_user_for, spec, model_dir)
        if user is not None and user.startswith("0:"):
            log.warning(
                "replica %s runs as root: its model dir %s is not readable by others "
                "(make it so to run unprivileged)", replica_id, model_dir,
            )  # fmt: skip
        if model_dir is not None and self._own_mounts:
            model_dir = engine_path(model_dir, self._own_mounts)
        kwargs = container_config(
            spec,
            replica_id,
            model_dir=model_dir,
            gpus=gpus,
            network=network,
            publish=publish,
            ingress_address=self._ingress_address,
            platform=self.platform,
            user=user,
        )
        return await asyncio.to_thread(self._create, spec, replica_id, kwargs, network, publish)

    def _create(
        self,
        spec: RevisionSpec,
        replica_id: str,
        kwargs: dict[str, Any],
        network: str,
        publish: bool,
    ) -> ReplicaHandle:
        import docker.errors

        if spec.network_internal:
            self._ensure_network(network, True)
        try:
            try:
                container = self.client.containers.create(**kwargs)
            except docker.errors.ImageNotFound as exc:
                image = kwargs["image"]
                if image.startswith(BUILT_HERE):  # built here, never pulled
                    raise ImageNotFound(image) from exc
                self._pull(image)  # Kubernetes' IfNotPresent: pull a missing image, once
                container = self.client.containers.create(**kwargs)
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(kwargs["image"]) from exc
        except docker.errors.NotFound as exc:  # the network went away
            self._ensure_network(network, spec.network_internal)
            raise BackendError(f"replica {replica_id}: {exc}") from exc
        except docker.errors.APIError as exc:
            raise BackendError(f"replica {replica_id}: create failed: {exc}") from exc
        try:
            container.start()
            container.reload()
        except docker.errors.APIError as exc:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
            if kwargs.get("device_requests") and is_gpu_refusal(exc):
                raise NoGPURuntime() from exc
            raise ReplicaStartError(
                f"replica {replica_id}: container failed to start: {exc}", reason="StartFailed"
            ) from exc
        return self._handle(container, spec.container.port)

    def _pull(self, image: str) -> None:
        """Pull ``image`` (its tag or digest; ``latest`` when it names none); ErrImagePull with
        Docker's own error when the engine cannot (no registry reachable, no such image)."""
        import docker.errors
        import requests.exceptions
        from docker.utils import parse_repository_tag

        repo, tag = parse_repository_tag(image)
        log.info("pulling image %s", image)
        try:
            for chunk in self.client.api.pull(repo, tag=tag or "latest", stream=True, decode=True):
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise ErrImagePull(image, str(chunk["error"]))
        except docker.errors.APIError as exc:
            raise ErrImagePull(image, str(exc.explanation or exc)) from exc
        except (
            requests.exceptions.RequestException
        ) as exc:  # no progress within the client's timeout
            raise ErrImagePull(image, f"the pull made no progress: {exc}") from exc

    def _handle(self, container: Any, port: int) -> ReplicaHandle:
        labels: dict[str, str] = dict(container.labels)
        settings = container.attrs.get("NetworkSettings", {})
        host, host_port, proxied = container.name, port, False
        grpc = labels.get(LABEL_GRPC_PORT)
        grpc_port = int(grpc) if grpc and grpc.isdigit() else None
        if self._mode != "name":
            published = settings.get("Ports") or {}
            bound = published.get(f"{port}/tcp")
            if bound:
                host, host_port, proxied = "127.0.0.1", int(bound[0]["HostPort"]), True
                grpc_bound = published.get(f"{grpc_port}/tcp") if grpc_port else None
                grpc_port = int(grpc_bound[0]["HostPort"]) if grpc_bound else None
            else:
                nets = settings.get("Networks") or {}
                host = next((n["IPAddress"] for n in nets.values() if n.get("IPAddress")), host)
        gpus = tuple(g for g in labels.get(LABEL_GPUS, "").split(",") if g)
        return ReplicaHandle(
            replica_id=labels.get(LABEL_REPLICA, container.name),
            revision=labels.get(LABEL_REVISION, ""),
            backend=self.name,
            ref=container.id,
            host=host,
            port=host_port,
            labels=labels,
            gpus=gpus,
            grpc_port=grpc_port,
            proxied=proxied,
        )

    async def stop(self, handle: ReplicaHandle, *, grace: float) -> None:
        await asyncio.to_thread(self._stop, handle, grace)

    def _stop(self, handle: ReplicaHandle, grace: float) -> None:
        import docker.errors

        try:
            container = self.client.containers.get(handle.ref)
            container.stop(timeout=max(0, round(grace)))
            container.remove(force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            raise BackendError(f"replica {handle.replica_id}: stop failed: {exc}") from exc
        finally:
            self._prev_cpu.pop(handle.ref, None)

    async def list_replicas(self) -> list[ReplicaHandle]:
        # A container removed between docker-py's listing and its inspect of it is skipped
        # (a replica being stopped while this runs), not a 404 that fails the whole list.
        containers = await asyncio.to_thread(
            self.client.containers.list,
            all=True,
            filters={"label": self._ours},
            ignore_removed=True,
        )
        handles = []
        for c in containers:
            port = int(c.labels.get(LABEL_PORT, "8080"))
            if c.status != "running":
                # A dead replica is no use to anyone: remove it, as Kubernetes GCs dead pods.
                log.info("removing exited container %s", c.name)
                await asyncio.to_thread(self._remove_quietly, c)
                continue
            handles.append(self._handle(c, port))
        return handles

    @staticmethod
    def _remove_quietly(container: Any) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)

    async def exec(self, handle: ReplicaHandle, command: Sequence[str], *, limit_s: float) -> int:
        def run() -> int:
            container = self.client.containers.get(handle.ref)
            return int(container.exec_run(list(command)).exit_code or 0)

        return await asyncio.wait_for(asyncio.to_thread(run), limit_s)

    async def logs(
        self, handle: ReplicaHandle, *, follow: bool, tail: int = 200
    ) -> AsyncIterator[str]:
        import docker.errors

        try:
            container = await asyncio.to_thread(self.client.containers.get, handle.ref)
            stream = await asyncio.to_thread(container.logs, stream=True, follow=follow, tail=tail)
        except docker.errors.NotFound:
            return
        buf = b""
        try:
            while True:
                chunk: bytes | None = await asyncio.to_thread(next, stream, None)
                if chunk is None:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
        finally:
            close_stream(stream)
        if buf:
            yield buf.decode(errors="replace")

    async def usage(self, handle: ReplicaHandle) -> ResourceUsage:
        def read() -> dict[str, Any]:
            container = self.client.containers.get(handle.ref)
            return dict(container.stats(stream=False, one_shot=True))

        stats = await asyncio.to_thread(read)
        cpu = stats.get("cpu_stats", {})
        total = int(cpu.get("cpu_usage", {}).get("total_usage", 0))
        system = int(cpu.get("system_cpu_usage", 0))
        online = int(cpu.get("online_cpus", 1) or 1)
        prev = self._prev_cpu.get(handle.ref)
        self._prev_cpu[handle.ref] = (total, system)
        cores = 0.0
        if prev is not None and system > prev[1]:
            cores = (total - prev[0]) / (system - prev[1]) * online
        memory = int(stats.get("memory_stats", {}).get("usage", 0))
        return ResourceUsage(cpu_cores=max(0.0, cores), memory_bytes=memory, replicas=1)

    async def exits(self) -> AsyncIterator[ReplicaExit]:
        while True:
            yield await self._exits.get()

    async def _watch_exits(self) -> None:
        """Docker's event stream (``die``) in a thread, reconnecting after engine hiccups."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                # A thread of its own: the stream blocks for the backend's lifetime and must not
                # hold one of the default executor's few workers.
                await loop.run_in_executor(self._pump_executor, self._pump_events, loop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("docker event stream broke (%s); reconnecting", exc)
            await asyncio.sleep(0.5)

    def _pump_events(self, loop: asyncio.AbstractEventLoop) -> None:
        self._events = self.client.events(
            decode=True,
            filters={"type": "container", "event": "die", "label": self._ours},
        )
        for ev in self._events:
            attrs = ev.get("Actor", {}).get("Attributes", {})
            code = attrs.get("exitCode")
            exit_ = ReplicaExit(
                replica_id=attrs.get(LABEL_REPLICA, ""),
                revision=attrs.get(LABEL_REVISION, ""),
                exit_code=int(code) if code is not None and str(code).isdigit() else None,
                reason="died",
            )
            loop.call_soon_threadsafe(self._exits.put_nowait, exit_)


def _user_for(spec: RevisionSpec, model_dir: Path | None) -> str | None:
    """:func:`replica_user` for this platform's process and model dir (blocking: a stat)."""
    if not hasattr(os, "getuid"):
        return None
    st = None
    if model_dir is not None:
        with contextlib.suppress(OSError):
            st = model_dir.stat()
    return replica_user(spec, uid=os.getuid(), gid=os.getgid(), model_dir=st)
