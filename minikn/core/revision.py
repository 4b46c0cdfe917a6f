"""An immutable revision: everything a backend, the data path and the autoscaler need to run one
version of one ISVC component. The control plane builds it (runtime resolved, defaults applied);
nothing downstream reads ISVC YAML.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

__all__ = [
    "DEPLOYMENT_MODE",
    "BatcherSpec",
    "ComponentName",
    "ContainerSpec",
    "LoggerSpec",
    "ModelRef",
    "NotRunnable",
    "ProbeSpec",
    "ProtocolVersion",
    "ResourceSpec",
    "RevisionSpec",
]

ComponentName = Literal["predictor", "transformer", "explainer", "router"]
"""``router``: an InferenceGraph's router (``minikn.graph``), the graph's only component."""
ProtocolVersion = Literal["v1", "v2", "grpc-v1", "grpc-v2"]

DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
"""KServe's deployment-mode annotation; a revision of a Standard (raw) mode ISVC carries it with
the value ``Standard`` (the data path then neither buffers nor holds requests at zero)."""

MODEL_MOUNT = "/mnt/models"
"""Where the storage initializer's output is mounted in a container (KServe's path)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProbeSpec(_Frozen):
    """A readiness probe (the subset of core/v1 Probe minikn acts on)."""

    kind: Literal["http", "tcp", "exec"]
    path: str = "/"
    port: int | None = None
    command: tuple[str, ...] = ()
    initial_delay_seconds: float = 0.0
    period_seconds: float = 0.0
    """0 means probe aggressively, as Knative's queue-proxy does for the default probe."""
    timeout_seconds: float = 1.0
    failure_threshold: int = 3


class ResourceSpec(_Frozen):
    """Limits (requests fall back to limits, as Kubernetes defaults them)."""

    cpu: float | None = None
    """CPU cores (``500m`` -> 0.5)."""
    memory: int | None = None
    """Bytes (``2Gi`` -> 2147483648)."""
    gpus: int = 0
    """``nvidia.com/gpu``."""


class ContainerSpec(_Frozen):
    """The container a replica runs, with the serving runtime already merged in."""

    image: str | None = None
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    port: int = 8080
    """The port the server listens on inside the container (KServe/Knative default 8080)."""
    grpc_port: int | None = None
    """The port it serves gRPC (h2c) on: a container port named ``h2c`` or ``grpc``, or 8081 for
    the built-in server with ``protocolVersion: grpc-v2`` (KServe's); None: no gRPC."""

    @model_serializer(mode="wrap")
    def _without_absent_grpc(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No ``grpc_port`` key when None: dumps (state files, spec hashes) of revisions that
        serve no gRPC stay what they were before the field existed."""
        data: dict[str, Any] = handler(self)
        if self.grpc_port is None:
            data.pop("grpc_port", None)
        return data

    resources: ResourceSpec = ResourceSpec()
    readiness_probe: ProbeSpec | None = None
    working_dir: str | None = None


class ModelRef(_Frozen):
    """The model a predictor serves."""

    name: str
    """The model name in URLs: the ISVC name for KServe's runtimes."""
    format: str
    format_version: str | None = None
    runtime: str | None = None
    """The ClusterServingRuntime chosen (explicitly or by auto-select)."""
    storage_uri: str | None = None
    protocol: ProtocolVersion = "v1"


class LoggerSpec(_Frozen):
    """KServe's ``logger:`` (payload logging as CloudEvents)."""

    url: str
    mode: Literal["all", "request", "response"] = "all"
    metadata_headers: tuple[str, ...] = ()


class BatcherSpec(_Frozen):
    """KServe's ``batcher:`` (defaults from KServe's agent code: 32 instances, 5000 ms)."""

    max_batch_size: int = 32
    max_latency_ms: int = 5000


class NotRunnable(_Frozen):
    """Why no backend can run a revision (admitted as KServe admits it, but beyond minikn):
    every replica start fails at once with this reason and message."""

    reason: str
    message: str


class RevisionSpec(_Frozen):
    """One immutable revision of one ISVC component."""

    name: str
    """``<isvc>-<component>-00001``."""
    isvc: str
    namespace: str = "default"
    component: ComponentName
    generation: int
    """The component's generation: the number in the name."""
    container: ContainerSpec
    model: ModelRef | None = None
    builtin_server: bool = False
    """The container runs ``python -m minikn.modelserver`` (the process backend runs it as is)."""
    predictor_host: str | None = None
    """For transformers and explainers: the predictor's host, reached through the router."""
    protocol: ProtocolVersion = "v1"
    """The protocol the component serves (decides the default readiness probe)."""
    container_concurrency: int = 0
    """Hard per-replica limit; 0 = unlimited."""
    timeout_seconds: int = 300
    annotations: dict[str, str] = Field(default_factory=dict)
    """Revision-template annotations, KServe's mapping applied (``autoscaling.knative.dev/*``)."""
    labels: dict[str, str] = Field(default_factory=dict)
    logger: LoggerSpec | None = None
    batcher: BatcherSpec | None = None
    network_internal: bool = False
    """Replicas on an internal (no egress) network (annotation ``minikn.io/internal-network``)."""
    created_at: float = 0.0
    """Wall-clock Unix seconds."""
    not_runnable: NotRunnable | None = None
    """Set when no backend can run it (a multi-node ``workerSpec``)."""

    @model_serializer(mode="wrap")
    def _without_absent_refusal(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No ``not_runnable`` key when None: state files of runnable revisions stay as before."""
        data: dict[str, Any] = handler(self)
        if self.not_runnable is None:
            data.pop("not_runnable", None)
        return data

    @property
    def standard_mode(self) -> bool:
        """KServe's Standard (raw) mode: Deployment + HPA, no activator in the path."""
        return self.annotations.get(DEPLOYMENT_MODE) == "Standard"
