"""What a replica container is made of (pure, tested as is) and small docker SDK helpers."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from minikn.core.revision import MODEL_MOUNT, RevisionSpec
from minikn.replicas.backend import LABEL_GRPC_PORT, LABEL_PORT, replica_env, replica_labels
from minikn.replicas.types import ReplicaStartError

__all__ = [
    "INGRESS_ALIAS",
    "close_stream",
    "container_config",
    "engine_path",
    "in_docker",
    "is_gpu_refusal",
    "replica_user",
]

NOBODY = "65534:65534"
"""The unprivileged user (``nobody``) the model-server image declares and replicas run as."""

INGRESS_ALIAS = "minikn-ingress"
"""The host name containers use for minikn's ingress (transformer -> predictor hops)."""


def in_docker(client: Any) -> bool:
    """Whether minikn itself runs in a container of this engine (then it reaches replicas by name).

    ``MINIKN_IN_DOCKER=1``/``0`` decides; otherwise ``/.dockerenv`` must exist *and* the engine
    must know a container by our hostname (a Docker engine inside a container is not enough).
    Blocking.
    """
    import docker.errors

    flag = os.environ.get("MINIKN_IN_DOCKER")
    if flag in ("0", "1"):
        return flag == "1"
    if not Path("/.dockerenv").exists():
        return False
    try:
        client.containers.get(socket.gethostname())
    except docker.errors.DockerException:
        return False
    return True


def replica_user(
    spec: RevisionSpec, *, uid: int, gid: int, model_dir: os.stat_result | None
) -> str | None:
    """The ``user`` a replica container runs as, or None for the image's own ``USER`` (pure).

    Truth table for minikn's model server (a custom image keeps its own ``USER``: only its
    author knows whether it runs unprivileged; minikn's image declares ``65534:65534``)::

        platform uid   model dir readable by others   -> user
        non-zero       any                            the platform's uid:gid (it owns the cache)
        0 (root)       yes, or no model               65534:65534 (nobody)
        0 (root)       no                             the model dir's owner (it must read it)
    """
    if not spec.builtin_server:
        return None
    if uid != 0:
        return f"{uid}:{gid}"
    if model_dir is None or model_dir.st_mode & 0o005 == 0o005:
        return NOBODY
    return f"{model_dir.st_uid}:{model_dir.st_gid}"


def container_config(
    spec: RevisionSpec,
    replica_id: str,
    *,
    model_dir: Path | None,
    gpus: Sequence[str],
    network: str,
    publish: bool,
    ingress_address: str = "host-gateway",
    platform: str = "",
    user: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``containers.create`` for one replica (pure; tested as is).

    Transformers and explainers reach the predictor through minikn's ingress under the name
    ``INGRESS_ALIAS`` (an ``/etc/hosts`` entry): the replica network's gateway when it is an
    interface of minikn's host (the ingress listens there too), else the host's gateway
    (``host-gateway``), and minikn's own address on the network when it runs in a container.
    """
    c = spec.container
    if c.image is None:
        raise ReplicaStartError(f"revision {spec.name} has no image", reason="NoImage")
    labels = replica_labels(spec, replica_id, gpus, platform=platform) | {LABEL_PORT: str(c.port)}
    environment = replica_env(spec, c.port)
    if c.grpc_port is not None:
        labels[LABEL_GRPC_PORT] = str(c.grpc_port)
        environment["GRPC_PORT"] = str(c.grpc_port)
    kwargs: dict[str, Any] = {
        "image": c.image,
        "name": f"minikn-{replica_id}",
        "detach": True,
        "labels": labels,
        "environment": environment,
        "network": network,
        "privileged": False,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
    }
    kwargs |= _process(spec, user=user)
    kwargs |= _resources(spec, model_dir=model_dir, gpus=gpus)
    kwargs |= _networking(spec, publish=publish, ingress_address=ingress_address)
    return kwargs


def _process(spec: RevisionSpec, *, user: str | None) -> dict[str, Any]:
    """What runs, where, as whom."""
    c = spec.container
    kwargs: dict[str, Any] = {}
    if c.command:
        kwargs["entrypoint"] = list(c.command)
    if c.args:
        kwargs["command"] = list(c.args)
    if c.working_dir:
        kwargs["working_dir"] = c.working_dir
    if user is not None:
        kwargs["user"] = user  # see replica_user
    return kwargs


def _resources(
    spec: RevisionSpec, *, model_dir: Path | None, gpus: Sequence[str]
) -> dict[str, Any]:
    """The model mount, CPU and memory limits, GPUs."""
    from docker.types import DeviceRequest

    c = spec.container
    kwargs: dict[str, Any] = {}
    if model_dir is not None:
        kwargs["volumes"] = {str(model_dir): {"bind": MODEL_MOUNT, "mode": "ro"}}
    if c.resources.cpu is not None:
        kwargs["nano_cpus"] = int(c.resources.cpu * 1e9)
    if c.resources.memory is not None:
        kwargs["mem_limit"] = c.resources.memory
    if gpus:
        kwargs["device_requests"] = [
            DeviceRequest(driver="nvidia", device_ids=list(gpus), capabilities=[["gpu"]])
        ]
    return kwargs


def _networking(spec: RevisionSpec, *, publish: bool, ingress_address: str) -> dict[str, Any]:
    """The published ports (minikn on the host: HTTP, and gRPC when served on another port) and
    the ingress's host name (transformers, explainers and graph routers call through it)."""
    kwargs: dict[str, Any] = {}
    if publish:
        c = spec.container
        ports = [c.port] if c.grpc_port in (None, c.port) else [c.port, c.grpc_port]
        kwargs["ports"] = {f"{p}/tcp": ("127.0.0.1", None) for p in ports}
    if spec.predictor_host is not None or spec.component == "router":
        kwargs["extra_hosts"] = {INGRESS_ALIAS: ingress_address}
    return kwargs


def is_gpu_refusal(exc: Exception) -> bool:
    text = str(exc).lower()
    return "could not select device driver" in text or "nvidia" in text


def close_stream(stream: Any) -> None:
    """End a docker SDK stream: shut its socket (unblocks a reader thread), release the response."""
    with contextlib.suppress(Exception):
        stream.close()
    response = getattr(stream, "_response", None)
    with contextlib.suppress(Exception):
        if response is not None:
            response.close()


def engine_path(path: Path, mounts: Sequence[Mapping[str, Any]]) -> Path:
    """The engine host's name for ``path`` as seen inside our own container (pure).

    A replica's bind mount is resolved by the engine on its host, not in our container, so a
    model directory under one of our mounts (compose: ./config -> /app/config, the state volume
    -> /state) must be named by that mount's ``Source``. The longest matching ``Destination``
    wins; a path under no mount is returned unchanged.
    """
    best: tuple[PurePosixPath, str] | None = None
    p = PurePosixPath(path)
    for m in mounts:
        dest, src = m.get("Destination"), m.get("Source")
        if not dest or not src:
            continue
        d = PurePosixPath(dest)
        if (p == d or d in p.parents) and (best is None or len(d.parts) > len(best[0].parts)):
            best = (d, src)
    if best is None:
        return path
    return Path(best[1]) / p.relative_to(best[0])
