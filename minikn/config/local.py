"""Sub-groups of ``minikn``: the server, the activator, the replica backends, model storage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from minikn.config.types import ConfigGroup, Duration

__all__ = [
    "ActivatorConfig",
    "ProcessImage",
    "ReplicasConfig",
    "ServerConfig",
    "StorageConfig",
]


class ServerConfig(ConfigGroup):
    """``minikn.server``: listeners (CLI flags override these)."""

    ingress_host: str = Field("0.0.0.0", alias="ingressHost")
    """Address the ingress (router) binds."""
    ingress_port: int = Field(8080, alias="ingressPort", ge=0, le=65535)
    """The ingress port (Istio's gateway on a cluster)."""
    api_host: str = Field("127.0.0.1", alias="apiHost")
    """Address the API binds; anything but loopback requires MINIKN_API_TOKEN."""
    api_port: int = Field(8081, alias="apiPort", ge=0, le=65535)
    """The control-plane API port (also serves /metrics)."""
    kube_port: int = Field(6443, alias="kubePort", ge=-1, le=65535)
    """The same API over HTTPS for kubectl and Kubernetes clients (they send credentials only
    over TLS), on the API's address; -1 turns it off."""
    shutdown_grace: Duration = Field(10.0, alias="shutdownGrace")
    """How long shutdown waits for in-flight requests."""


class ActivatorConfig(ConfigGroup):
    """``minikn.activator``: the buffer and the request limits of the data path."""

    max_buffered_requests: int = Field(10_000, alias="maxBufferedRequests", ge=0)
    """Requests one revision may hold waiting for capacity; beyond it 503 + Retry-After."""
    max_body_bytes: int = Field(100 * 1024 * 1024, alias="maxBodyBytes", ge=1)
    """Largest request body accepted (413 above it)."""
    retry_after_seconds: int = Field(1, alias="retryAfterSeconds", ge=0)
    """Value of Retry-After on a full buffer."""
    max_connections_per_replica: int = Field(
        1024, alias="maxConnectionsPerReplica", ge=1, le=65_536
    )
    """Connections (= requests in flight) the activator opens to one replica; requests beyond
    it wait in the buffer as for a busy slot, so a replica's capacity is min(containerConcurrency
    or unlimited, this). Envoy's cluster ``circuit_breakers.thresholds.max_connections`` (1024)."""
    max_attempts: int = Field(5, alias="maxAttempts", ge=1, le=100)
    """Tries of a request that never reached a replica (refused connect, replica gone, a reused
    connection closed before any answer), each on another replica or after waiting in the buffer
    for one, within the revision's timeout. Envoy's ``retry_policy.num_retries`` + 1."""
    ejection_time: Duration = Field(1.0, alias="ejectionTime", ge=0.01, le=300.0)
    """How long a replica that refused a connection gets no request (then it is tried again);
    its replacement or removal usually comes first from the replica manager. Envoy's
    ``outlier_detection.base_ejection_time`` (30s there; short here: local replicas restart
    fast)."""
    idle_connection_timeout: Duration = Field(4.0, alias="idleConnectionTimeout", gt=0, le=3600)
    """A pooled keep-alive connection idle longer than this is closed, not reused: servers close
    idle connections (uvicorn after 5 s) and reusing one that is closing would fail a request.
    Envoy's cluster ``common_http_protocol_options.idle_timeout``."""
    max_idle_connections_per_replica: int = Field(
        100, alias="maxIdleConnectionsPerReplica", ge=1, le=65_536
    )
    """Keep-alive connections to one replica kept open for reuse while no request uses them;
    beyond it the longest idle is closed. Knative's activator ``MAX_IDLE_PROXY_CONNS_PER_HOST``
    (100)."""
    grpc_max_streams_per_connection: int = Field(
        100, alias="grpcMaxStreamsPerConnection", ge=1, le=10_000
    )
    """gRPC calls multiplexed on one h2c connection to a replica (fewer if the replica says so);
    beyond it another connection is opened. gRPC servers' default limit is 100."""


class ProcessImage(ConfigGroup):
    """How the process backend runs one container image on the host (what the image would
    provide: its interpreter and packages, its working directory)."""

    virtualenv: str | None = None
    """A virtualenv (or any prefix with a ``bin/``) whose ``bin/`` resolves the container's
    command first (``python`` -> ``<virtualenv>/bin/python``); also ``VIRTUAL_ENV`` and the
    front of ``PATH`` in the replica's environment."""
    working_dir: str | None = Field(None, alias="workingDir")
    """The image's ``WORKDIR``: where relative paths in the command (``predictor.py``) resolve;
    a container's own ``workingDir`` wins."""
    entrypoint: list[str] | None = None
    """The image's ``ENTRYPOINT``, for a container that gives no ``command`` (a serving runtime's
    such as KServe's Hugging Face server: ``[python, -m, huggingfaceserver]``)."""
    kserve: bool | None = None
    """The image runs KServe's model server (``kserve.ModelServer``), so it is given its HTTP
    and gRPC ports as ``--http_port``/``--grpc_port``; null = detect (the virtualenv has the
    ``kserve`` package, or the arguments carry ``--model_name``/``--predictor_host``)."""


class ReplicasConfig(ConfigGroup):
    """``minikn.replicas``: backends, images and GPUs."""

    backend: Literal["auto", "docker", "process"] = "auto"
    """Which backend runs replicas; auto picks Docker when an engine answers."""
    docker_network: str = Field("minikn", alias="dockerNetwork")
    """Docker network replicas join."""
    base_image: str = Field("python:3.11-slim", alias="baseImage")
    """Base of the model-server image (use a local debootstrap image offline)."""
    model_server_image: str = Field("minikn/modelserver", alias="modelServerImage")
    """Repository of the built-in model-server image (tagged by a hash of its inputs)."""
    stop_grace: Duration = Field(10.0, alias="stopGrace")
    """SIGTERM, then kill after this long."""
    gpus: list[str] | None = None
    """GPU device IDs to hand out; null = discover with nvidia-smi."""
    gpu_sharing: int = Field(1, alias="gpuSharing", ge=1)
    """How many replicas may share one GPU (1 = exclusive)."""
    process_images: dict[str, ProcessImage] = Field(default_factory=dict, alias="processImages")
    """Image (``repo/name:tag``, or ``repo/name`` for every tag) -> how the process backend runs
    it; an image not listed runs its command with the platform's own interpreter for
    ``python``."""


class StorageConfig(ConfigGroup):
    """``minikn.storage``: the storage initializer and its cache."""

    cache_dir: str | None = Field(None, alias="cacheDir")
    """Content-addressed model cache; null = <state-dir>/models."""
    allowed_roots: list[str] = Field(default_factory=list, alias="allowedRoots")
    """Local paths a storageUri may point under; empty = only the shipped ``config/examples``
    (never the directory the server was started from)."""
    pvc: dict[str, str] = Field(default_factory=dict)
    """``pvc://NAME/PATH`` -> host directory for NAME."""
    gcs: dict[str, str] = Field(default_factory=dict)
    """``gs://BUCKET/PATH`` -> host directory for BUCKET (no GCS client is bundled)."""
    s3_endpoint: str | None = Field(None, alias="s3Endpoint")
    """S3-compatible endpoint URL; null = AWS_ENDPOINT_URL or AWS."""
    s3_region: str | None = Field(None, alias="s3Region")
    """Region; null = AWS_DEFAULT_REGION."""
