"""The ``serving.kserve.io/v1beta1`` InferenceService schema (KServe's Go types in pydantic).

Every model refuses unknown fields, so a typo is an error naming its path instead of a silently
ignored key. Source: kserve/kserve ``pkg/apis/serving/v1beta1`` (``predictor.go``,
``component.go``, ``explainer_art.go``).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from minikn.api.k8s import INT32_MAX, ContainerFields, Int, K8sModel, PodSpecFields, Quantity

__all__ = [
    "INT32_MAX",
    "LEGACY_FRAMEWORKS",
    "ArtExplainerSpec",
    "AutoScalingSpec",
    "BatcherSpec",
    "ComponentExtensionSpec",
    "ExplainerSpec",
    "ExternalMetricSource",
    "InferenceService",
    "InferenceServiceSpec",
    "Int",
    "LoggerSpec",
    "MetricTarget",
    "MetricsSpec",
    "ModelFormat",
    "ModelSpec",
    "ObjectMeta",
    "PodMetricSource",
    "PredictorExtensionSpec",
    "PredictorSpec",
    "ResourceMetricSource",
    "StorageUri",
    "TransformerSpec",
    "WorkerSpec",
]

LEGACY_FRAMEWORKS: tuple[str, ...] = (
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "pmml",
    "lightgbm",
    "paddle",
)
"""PredictorSpec's framework keys, in KServe's order."""

# KServe's Go names, as in "exactly one of [...] must be specified in PredictorSpec".
IMPLEMENTATION_NAMES: tuple[str, ...] = (
    "SKLearn",
    "XGBoost",
    "Tensorflow",
    "PyTorch",
    "Triton",
    "ONNX",
    "HuggingFace",
    "PMML",
    "LightGBM",
    "Paddle",
    "Model",
    "CustomPredictor",
)

ProtocolName = Literal["v1", "v2", "grpc-v1", "grpc-v2"]


class ObjectMeta(K8sModel):
    """metav1.ObjectMeta (server-set fields accepted so ``get -o yaml`` output re-applies)."""

    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    generate_name: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: Int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: Int | None = None
    owner_references: list[dict[str, Any]] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[dict[str, Any]] | None = None


class LoggerSpec(K8sModel):
    url: str | None = None
    mode: Literal["all", "request", "response"] = "all"
    metadata_headers: list[str] | None = None
    metadata_annotations: list[str] | None = None
    storage: dict[str, Any] | None = None
    marshaller_url: str | None = None
    batch_size: Int | None = Field(None, ge=1, le=INT32_MAX)
    batch_interval: str | None = None


class BatcherSpec(K8sModel):
    max_batch_size: Int | None = Field(None, ge=1, le=INT32_MAX)
    max_latency: Int | None = Field(None, ge=1, le=INT32_MAX)
    timeout: Int | None = Field(None, ge=1, le=INT32_MAX)


class MetricTarget(K8sModel):
    """KServe's MetricTarget: the target of one ``autoScaling`` metric."""

    type: Literal["Utilization", "Value", "AverageValue"] | None = None
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: Int | None = Field(None, ge=-(2**31), le=INT32_MAX)


class ResourceMetricSource(K8sModel):
    name: Literal["cpu", "memory"]
    target: MetricTarget | None = None


class ExternalMetrics(K8sModel):
    """A KEDA external scaler's query (KServe's ``MetricsBackend`` enum)."""

    backend: Literal["prometheus", "graphite"] | None = None
    server_address: str | None = None
    query: str | None = None
    namespace: str | None = None


class PodMetrics(K8sModel):
    """A KEDA OpenTelemetry pod metric (KServe's ``PodsMetricsBackend`` enum)."""

    backend: Literal["opentelemetry"] | None = None
    server_address: str | None = None
    metric_names: list[str] | None = None
    query: str | None = None
    operation_over_time: str | None = None


class ExternalMetricSource(K8sModel):
    metric: ExternalMetrics | None = None
    target: MetricTarget | None = None


class PodMetricSource(K8sModel):
    metric: PodMetrics | None = None
    target: MetricTarget | None = None


class MetricsSpec(K8sModel):
    """One entry of ``autoScaling.metrics``: ``type`` and its matching source."""

    type: Literal["Resource", "External", "PodMetric"]
    resource: ResourceMetricSource | None = None
    external: ExternalMetricSource | None = None
    pod_metric: PodMetricSource | None = Field(None, alias="podmetric")
    """KServe's JSON name is all lower case."""


class AutoScalingSpec(K8sModel):
    """``autoScaling``: the HPA/KEDA metrics of Standard mode (KServe's AutoScalingSpec)."""

    metrics: list[MetricsSpec] | None = None


class StorageUri(K8sModel):
    """One entry of ``storageUris`` (KServe's StorageUri)."""

    uri: str
    mount_path: str | None = None
    """Unset means KServe's default, ``/mnt/models``."""


class ComponentExtensionSpec(K8sModel):
    """Fields every component carries beside its implementation."""

    min_replicas: Int | None = None
    max_replicas: Int = 0
    scale_target: Int | None = None
    scale_metric: Literal["cpu", "memory", "concurrency", "rps"] | None = None
    scale_metric_type: Literal["Utilization", "Value", "AverageValue"] | None = None
    auto_scaling: AutoScalingSpec | None = None
    container_concurrency: Int | None = None
    timeout: Int | None = None
    canary_traffic_percent: Int | None = None
    logger: LoggerSpec | None = None
    batcher: BatcherSpec | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    deployment_strategy: dict[str, Any] | None = None

    # Range rules (KServe's component.go, Knative's bounds) are checked in validate.py, where
    # each error can name its field.


class ModelFormat(K8sModel):
    name: str = Field(min_length=1)
    version: str | None = None


class PredictorExtensionSpec(ContainerFields):
    """What a ``model:`` or framework key holds: storage, protocol and container overrides."""

    name: str | None = None
    """The inlined container's name: KServe's SDK sends ``""``; any other value is refused."""
    storage_uri: str | None = None
    runtime_version: str | None = None
    protocol_version: ProtocolName | None = None
    storage: dict[str, Any] | None = None
    confidential: dict[str, Any] | None = None


class ModelSpec(PredictorExtensionSpec):
    model_format: ModelFormat
    runtime: str | None = None


class WorkerSpec(PodSpecFields):
    """``predictor.workerSpec``: KServe's multi-node workers (the pod of each worker node)."""

    pipeline_parallel_size: Int | None = None
    """Nodes a model is split across (KServe's default 1)."""
    tensor_parallel_size: Int | None = None
    """GPUs per node (KServe's default 1)."""


class PredictorSpec(PodSpecFields, ComponentExtensionSpec):
    """``spec.predictor``: exactly one implementation plus pod and extension fields."""

    sklearn: PredictorExtensionSpec | None = None
    xgboost: PredictorExtensionSpec | None = None
    tensorflow: PredictorExtensionSpec | None = None
    pytorch: PredictorExtensionSpec | None = None
    triton: PredictorExtensionSpec | None = None
    onnx: PredictorExtensionSpec | None = None
    huggingface: PredictorExtensionSpec | None = None
    pmml: PredictorExtensionSpec | None = None
    lightgbm: PredictorExtensionSpec | None = None
    paddle: PredictorExtensionSpec | None = None
    model: ModelSpec | None = None
    storage_uris: list[StorageUri] | None = None
    storage_container_name: str | None = None
    worker_spec: WorkerSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [k for k in (*LEGACY_FRAMEWORKS, "model") if getattr(self, k) is not None]
        if self.containers:
            given.append("containers")
        if len(given) != 1:
            names = ", ".join(IMPLEMENTATION_NAMES)
            found = f" (found: {', '.join(given)})" if given else " (found none)"
            raise ValueError(f"exactly one of [{names}] must be specified in PredictorSpec{found}")
        return self

    def implementation(self) -> str:
        """The key that holds the implementation: a framework, ``model`` or ``containers``."""
        for key in (*LEGACY_FRAMEWORKS, "model"):
            if getattr(self, key) is not None:
                return key
        return "containers"


class TransformerSpec(PodSpecFields, ComponentExtensionSpec):
    """``spec.transformer``: custom containers only."""

    storage_uris: list[StorageUri] | None = None

    @model_validator(mode="after")
    def _has_container(self) -> Self:
        if not self.containers:
            raise ValueError(
                "exactly one of [CustomTransformer] must be specified in TransformerSpec"
            )
        return self


class ArtExplainerSpec(PredictorExtensionSpec):
    """``explainer.art`` (KServe's ART adversarial explainer)."""

    type: Literal["SquareAttack"]
    config: dict[str, str] | None = None


class ExplainerSpec(PodSpecFields, ComponentExtensionSpec):
    """``spec.explainer``: ``art`` or custom containers (KServe removed ``alibi``/``aix``)."""

    art: ArtExplainerSpec | None = None
    storage_uris: list[StorageUri] | None = None

    @model_validator(mode="before")
    @classmethod
    def _removed_explainers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, version in (("alibi", "v0.13"), ("aix", "v0.11")):
                if key in data:
                    raise ValueError(
                        f"explainer '{key}' was removed in KServe {version}; run it as a custom "
                        "container under 'containers' (e.g. kserve/alibi-explainer) or use 'art'"
                    )
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.art is not None) == bool(self.containers):
            raise ValueError(
                "exactly one of [ART, CustomExplainer] must be specified in ExplainerSpec"
            )
        return self


class InferenceServiceSpec(K8sModel):
    predictor: PredictorSpec
    transformer: TransformerSpec | None = None
    explainer: ExplainerSpec | None = None


class InferenceService(K8sModel):
    """A whole v1beta1 document (``status`` from ``get -o yaml`` is accepted and ignored)."""

    api_version: Literal["serving.kserve.io/v1beta1"]
    kind: Literal["InferenceService"]
    metadata: ObjectMeta
    spec: InferenceServiceSpec
    status: dict[str, Any] | None = None
