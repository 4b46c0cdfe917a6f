"""Build immutable revisions from component specs (pure): naming, change detection, defaults.

KServe's Knative-mode mapping (``pkg/controller/v1beta1/inferenceservice/components``) is applied
here: minReplicas/maxReplicas/scaleTarget/scaleMetric become ``autoscaling.knative.dev/*``
annotations, timeout and containerConcurrency get config-defaults, logger/batcher get
inferenceservice-config defaults.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from minikn.api.containers import container_from_k8s
from minikn.api.convert import legacy_to_model
from minikn.api.deploy_mode import deployment_mode
from minikn.api.runtimes import RuntimeRegistry, render_container
from minikn.api.schema import ExplainerSpec, ModelSpec, PredictorSpec
from minikn.api.validate import AUTOSCALING_PREFIX, KSERVE_AUTOSCALER_CLASS, Component
from minikn.config import Settings
from minikn.config.autoscaler import HPA_CLASS, KPA_CLASS
from minikn.core.revision import (
    DEPLOYMENT_MODE,
    MODEL_MOUNT,
    BatcherSpec,
    ComponentName,
    ContainerSpec,
    LoggerSpec,
    ModelRef,
    NotRunnable,
    ProtocolVersion,
    RevisionSpec,
)

__all__ = [
    "INTERNAL_NETWORK",
    "build_revision",
    "component_hash",
    "predictor_host",
    "revision_annotations",
    "revision_name",
]

INTERNAL_NETWORK = "minikn.io/internal-network"
MIN_SCALE = "autoscaling.knative.dev/min-scale"
MAX_SCALE = "autoscaling.knative.dev/max-scale"
_STRIPPED = frozenset(
    {MIN_SCALE, MAX_SCALE, "autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"}
)
_V2_FORMATS = frozenset({"triton", "vllm"})
ART_IMAGE = "kserve/art-explainer"


def revision_name(isvc: str, component: ComponentName, generation: int) -> str:
    """``<isvc>-<component>-00001`` (Knative's revision naming)."""
    return f"{isvc}-{component}-{generation:05d}"


def predictor_host(isvc: str, namespace: str, domain: str) -> str:
    """The predictor's external host; transformers and explainers reach it through the router."""
    return f"{isvc}-predictor.{namespace}.{domain}"


def _template_annotations(spec: Component, meta_annotations: Mapping[str, str]) -> dict[str, str]:
    merged = {k: v for k, v in meta_annotations.items() if k.startswith(AUTOSCALING_PREFIX)}
    if INTERNAL_NETWORK in meta_annotations:
        merged[INTERNAL_NETWORK] = meta_annotations[INTERNAL_NETWORK]
    merged.update(spec.annotations or {})
    return merged


def component_hash(spec: Component, meta_annotations: Mapping[str, str]) -> str:
    """A digest of everything that goes into a revision: a change means a new revision.

    ``canaryTrafficPercent`` lives on the route, not the revision template, so it is left out.
    """
    body = spec.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"canary_traffic_percent"}
    )
    payload = {"spec": body, "annotations": _template_annotations(spec, meta_annotations)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _standard_annotations(
    ann: dict[str, str], spec: Component, meta_annotations: Mapping[str, str]
) -> dict[str, str]:
    """Standard (raw) mode: KServe's Deployment + HPA. ``serving.kserve.io/autoscalerClass``
    ``hpa`` (default) or ``keda`` scale on ``scaleMetric`` (default cpu, target 80 %) between
    ``minReplicas`` (at least 1: an HPA never scales to zero, KServe issue 3514) and
    ``maxReplicas`` (raised to ``minReplicas`` when lower or unset, as KServe's HPA reconciler
    does); ``none`` and ``external`` keep ``minReplicas`` fixed (no HPA)."""
    ann[DEPLOYMENT_MODE] = "Standard"
    ann["autoscaling.knative.dev/class"] = HPA_CLASS
    low = max(spec.min_replicas if spec.min_replicas is not None else 1, 1)
    klass = meta_annotations.get(KSERVE_AUTOSCALER_CLASS, "hpa")
    high = low if klass in ("none", "external") else max(spec.max_replicas or 0, low)
    ann[MIN_SCALE], ann[MAX_SCALE] = str(low), str(high)
    ann["autoscaling.knative.dev/metric"] = spec.scale_metric or "cpu"
    ann["autoscaling.knative.dev/target"] = str(
        spec.scale_target if spec.scale_target is not None else HPA_DEFAULT_TARGET
    )
    return ann


HPA_DEFAULT_TARGET = 80
"""KServe's ``constants.DefaultCPUUtilization``."""


def revision_annotations(
    spec: Component, meta_annotations: Mapping[str, str], settings: Settings
) -> dict[str, str]:
    """KServe's mapping: min/max given by the user are stripped and regenerated."""
    ann = {
        k: v for k, v in _template_annotations(spec, meta_annotations).items() if k not in _STRIPPED
    }
    mode = deployment_mode(meta_annotations, settings.kserve.deploy.default_deployment_mode)
    if mode == "Standard":
        return _standard_annotations(ann, spec, meta_annotations)
    ann.setdefault(
        "autoscaling.knative.dev/class", settings.autoscaler.pod_autoscaler_class or KPA_CLASS
    )
    ann[MIN_SCALE] = str(spec.min_replicas if spec.min_replicas is not None else 1)
    if spec.max_replicas:
        ann[MAX_SCALE] = str(spec.max_replicas)
    if spec.scale_target is not None:
        ann["autoscaling.knative.dev/target"] = str(spec.scale_target)
    if spec.scale_metric is not None:
        ann["autoscaling.knative.dev/metric"] = spec.scale_metric
    return ann


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


def _model_container(
    *,
    isvc: str,
    namespace: str,
    model: ModelSpec,
    registry: RuntimeRegistry,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> tuple[ContainerSpec, ModelRef, bool]:
    protocol: ProtocolVersion = model.protocol_version or (
        "v2" if model.model_format.name.lower() in _V2_FORMATS else "v1"
    )
    runtime = registry.select(
        model_format=model.model_format.name,
        version=model.model_format.version,
        protocol=protocol,
        runtime=model.runtime,
        namespace=namespace,
    )
    overrides = _dump(model)
    for key in (
        "modelFormat",
        "runtime",
        "storageUri",
        "protocolVersion",
        "storage",
        "confidential",
    ):
        overrides.pop(key, None)
    container = render_container(
        runtime,
        isvc=isvc,
        namespace=namespace,
        overrides=overrides,
        labels=labels,
        annotations={**annotations, "modelFormat": model.model_format.name},
        protocol=protocol,
    )
    ref = ModelRef(
        name=isvc,
        format=model.model_format.name,
        format_version=model.model_format.version,
        runtime=runtime.name,
        storage_uri=model.storage_uri,
        protocol=protocol,
    )
    return container, ref, runtime.builtin


GRPC_PORT = 8081
"""KServe's model server listens for gRPC here (``--grpc_port``'s default)."""


def _grpc_container(container: ContainerSpec, protocol: ProtocolVersion) -> ContainerSpec:
    """The built-in server serving gRPC: ``protocolVersion: grpc-v*`` (or a port named h2c/grpc)
    adds ``--grpc_port`` (8081, KServe's) unless the args set it."""
    if container.grpc_port is None and not protocol.startswith("grpc"):
        return container
    port = container.grpc_port or GRPC_PORT
    args = container.args
    if not any(a == "--grpc_port" or a.startswith("--grpc_port=") for a in args):
        args = (*args, f"--grpc_port={port}")
    return container.model_copy(update={"grpc_port": port, "args": args})


def _custom_container(isvc: str, spec: Component) -> tuple[ContainerSpec, ModelRef | None]:
    """The ``kserve-container`` (else the first); a ``STORAGE_URI`` env triggers the storage
    initializer and is rewritten to the mount path, as KServe does."""
    containers = spec.containers or []
    main = next((c for c in containers if c.name == "kserve-container"), containers[0])
    fields = _dump(main)
    model = None
    for env in fields.get("env", []):
        if env.get("name") == "STORAGE_URI" and env.get("value"):
            model = ModelRef(name=isvc, format="custom", storage_uri=env["value"])
            env["value"] = MODEL_MOUNT
    return container_from_k8s(fields), model


def _art_container(isvc: str, spec: ExplainerSpec) -> ContainerSpec:
    art = spec.art
    assert art is not None  # guarded by the caller
    fields = _dump(art)
    for key in ("type", "config", "storageUri", "runtimeVersion", "protocolVersion", "storage"):
        fields.pop(key, None)
    fields.setdefault("image", f"{ART_IMAGE}:{art.runtime_version or 'latest'}")
    args = [f"--model_name={isvc}", "--http_port=8080", f"--adversary_type={art.type}"]
    if art.storage_uri:
        args.append("--storage_uri=/mnt/models")
    args.extend(f"--{k}={v}" for k, v in sorted((art.config or {}).items()))
    fields["args"] = [*args, *fields.get("args", [])]
    return container_from_k8s(fields)


def _workload(
    *,
    isvc: str,
    namespace: str,
    spec: Component,
    registry: RuntimeRegistry,
    meta_labels: Mapping[str, str],
    meta_annotations: Mapping[str, str],
) -> tuple[ContainerSpec, ModelRef | None, bool]:
    """(container, model, built-in server): a runtime's for a model, ART's, or the user's own."""
    if isinstance(spec, PredictorSpec) and spec.model is not None:
        return _model_container(
            isvc=isvc,
            namespace=namespace,
            model=spec.model,
            registry=registry,
            labels=meta_labels,
            annotations=meta_annotations,
        )
    if isinstance(spec, ExplainerSpec) and spec.art is not None:
        model = None
        if spec.art.storage_uri:
            model = ModelRef(name=isvc, format="art", storage_uri=spec.art.storage_uri)
        return _art_container(isvc, spec), model, False
    container, model = _custom_container(isvc, spec)
    return container, model, False


def _logger(spec: Component, settings: Settings) -> LoggerSpec | None:
    if spec.logger is None:
        return None
    return LoggerSpec(
        url=spec.logger.url or settings.kserve.logger.default_url,
        mode=spec.logger.mode,
        metadata_headers=tuple(spec.logger.metadata_headers or ()),
    )


def _batcher(spec: Component, settings: Settings) -> BatcherSpec | None:
    if spec.batcher is None:
        return None
    return BatcherSpec(
        max_batch_size=spec.batcher.max_batch_size or settings.kserve.batcher.max_batch_size,
        max_latency_ms=spec.batcher.max_latency or settings.kserve.batcher.max_latency,
    )


MULTI_NODE_UNSUPPORTED = "MultiNodeUnsupported"


def multi_node_refusal(spec: Component) -> NotRunnable | None:
    """Why a predictor with KServe's ``workerSpec`` cannot run here (None without one): KServe
    runs it as a head and worker pods joined by Ray; minikn runs each replica as one process or
    container (pure)."""
    worker = spec.worker_spec if isinstance(spec, PredictorSpec) else None
    if worker is None:
        return None
    pps = worker.pipeline_parallel_size or 1
    tps = worker.tensor_parallel_size or 1
    return NotRunnable(
        reason=MULTI_NODE_UNSUPPORTED,
        message=(
            "minikn runs one replica per pod; workerSpec needs KServe's multi-node (Ray) "
            f"runtime (a head and worker pods across {pps} nodes, {tps} GPUs each); remove "
            "workerSpec to serve the model from one replica"
        ),
    )


def build_revision(
    *,
    isvc: str,
    namespace: str,
    component: ComponentName,
    spec: Component,
    meta_annotations: Mapping[str, str],
    generation: int,
    settings: Settings,
    registry: RuntimeRegistry,
    created_at: float,
    meta_labels: Mapping[str, str] | None = None,
) -> RevisionSpec:
    """One RevisionSpec; raises ``NoSupportingRuntime`` when no runtime serves the model."""
    if isinstance(spec, PredictorSpec):
        spec = legacy_to_model(spec)
    container, model, builtin = _workload(
        isvc=isvc,
        namespace=namespace,
        spec=spec,
        registry=registry,
        meta_labels=meta_labels or {},
        meta_annotations=meta_annotations,
    )
    if builtin and model is not None:
        container = _grpc_container(container, model.protocol)
    annotations = revision_annotations(spec, meta_annotations, settings)
    cc = spec.container_concurrency
    domain = settings.kserve.ingress.ingress_domain
    return RevisionSpec(
        name=revision_name(isvc, component, generation),
        isvc=isvc,
        namespace=namespace,
        component=component,
        generation=generation,
        container=container,
        model=model,
        builtin_server=builtin,
        predictor_host=None
        if component == "predictor"
        else predictor_host(isvc, namespace, domain),
        protocol=model.protocol if model is not None else "v1",
        container_concurrency=cc if cc is not None else settings.defaults.container_concurrency,
        timeout_seconds=spec.timeout or settings.defaults.revision_timeout_seconds,
        annotations=annotations,
        labels=dict(spec.labels or {}),
        logger=_logger(spec, settings),
        batcher=_batcher(spec, settings),
        network_internal=annotations.get(INTERNAL_NETWORK, "").lower() == "true",
        created_at=created_at,
        not_runnable=multi_node_refusal(spec),
    )
