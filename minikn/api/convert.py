"""Conversions KServe's webhooks perform: legacy framework keys -> ``model``, v1alpha2 -> v1beta1.

Pure. The v1alpha2 conversion keeps ``spec.canary`` (KServe's drops it): the default endpoint
becomes the stable revision and the canary endpoint the latest one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from minikn.api.k8s import K8sContainer, K8sModel, ResourceRequirements
from minikn.api.schema import (
    INT32_MAX,
    LEGACY_FRAMEWORKS,
    Int,
    ModelFormat,
    ModelSpec,
    ObjectMeta,
    PredictorSpec,
)

__all__ = ["V1ALPHA2", "V1BETA1", "V1Alpha2Converted", "convert_v1alpha2", "legacy_to_model"]

V1BETA1 = "serving.kserve.io/v1beta1"
V1ALPHA2 = "serving.kubeflow.org/v1alpha2"

_V2_BY_DEFAULT = frozenset({"triton", "onnx", "huggingface"})
"""Legacy keys whose protocolVersion defaults to v2 (KServe's ``setPredictorModelDefaults``)."""


def legacy_to_model(predictor: PredictorSpec) -> PredictorSpec:
    """``predictor.sklearn: {...}`` -> ``predictor.model: {modelFormat: {name: sklearn}, ...}``."""
    key = predictor.implementation()
    if key not in LEGACY_FRAMEWORKS:
        return predictor
    ext = getattr(predictor, key)
    fields = ext.model_dump(exclude_none=True)
    if fields.get("protocol_version") is None and key in _V2_BY_DEFAULT:
        fields["protocol_version"] = "v2"
    model = ModelSpec(model_format=ModelFormat(name=key), **fields)
    return predictor.model_copy(update={key: None, "model": model})


# --- v1alpha2 (KFServing <= 0.6) -------------------------------------------------------------


class _FrameworkV1a2(K8sModel):
    storage_uri: str
    runtime_version: str | None = None
    resources: ResourceRequirements | None = None
    nthread: Int | None = Field(None, ge=1, le=INT32_MAX)
    model_class_name: str | None = None


class _CustomV1a2(K8sModel):
    container: K8sContainer


class _LoggerV1a2(K8sModel):
    url: str | None = None
    mode: Literal["all", "request", "response"] = "all"


class _BatcherV1a2(K8sModel):
    max_batch_size: Int | None = Field(None, ge=1, le=INT32_MAX)
    max_latency: Int | None = Field(None, ge=1, le=INT32_MAX)
    timeout: Int | None = Field(None, ge=1, le=INT32_MAX)


class _DeploymentV1a2(K8sModel):
    service_account_name: str | None = None
    min_replicas: Int | None = None
    max_replicas: Int | None = None
    parallelism: Int | None = None
    logger: _LoggerV1a2 | None = None
    batcher: _BatcherV1a2 | None = None


class _PredictorV1a2(_DeploymentV1a2):
    custom: _CustomV1a2 | None = None
    tensorflow: _FrameworkV1a2 | None = None
    triton: _FrameworkV1a2 | None = None
    xgboost: _FrameworkV1a2 | None = None
    lightgbm: _FrameworkV1a2 | None = None
    sklearn: _FrameworkV1a2 | None = None
    onnx: _FrameworkV1a2 | None = None
    pytorch: _FrameworkV1a2 | None = None
    pmml: _FrameworkV1a2 | None = None


class _ExplainerV1a2(_DeploymentV1a2):
    custom: _CustomV1a2 | None = None
    alibi: dict[str, Any] | None = None
    aix: dict[str, Any] | None = None


class _TransformerV1a2(_DeploymentV1a2):
    custom: _CustomV1a2


class _EndpointV1a2(K8sModel):
    predictor: _PredictorV1a2
    transformer: _TransformerV1a2 | None = None
    explainer: _ExplainerV1a2 | None = None


class _SpecV1a2(K8sModel):
    default: _EndpointV1a2
    canary: _EndpointV1a2 | None = None
    canary_traffic_percent: Int | None = Field(None, ge=0, le=100)


class InferenceServiceV1a2(K8sModel):
    api_version: Literal["serving.kubeflow.org/v1alpha2"]
    kind: Literal["InferenceService"]
    metadata: ObjectMeta
    spec: _SpecV1a2
    status: dict[str, Any] | None = None


@dataclass(frozen=True)
class V1Alpha2Converted:
    """A v1alpha2 document as v1beta1: the default endpoint, plus the canary endpoint and share."""

    default: dict[str, Any]
    """A full v1beta1 document built from ``spec.default``."""
    canary_spec: dict[str, Any] | None
    """The v1beta1 ``spec`` built from ``spec.canary`` (None without a canary)."""
    canary_percent: int


def _extension(d: _DeploymentV1a2) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.service_account_name is not None:
        out["serviceAccountName"] = d.service_account_name
    if d.min_replicas is not None:
        out["minReplicas"] = d.min_replicas
    if d.max_replicas is not None:
        out["maxReplicas"] = d.max_replicas
    if d.parallelism is not None:
        out["containerConcurrency"] = d.parallelism
    if d.logger is not None:
        out["logger"] = d.logger.model_dump(by_alias=True, exclude_none=True)
    if d.batcher is not None:
        out["batcher"] = d.batcher.model_dump(by_alias=True, exclude_none=True)
    return out


def _container(c: _CustomV1a2) -> list[dict[str, Any]]:
    return [c.container.model_dump(by_alias=True, exclude_none=True)]


def _predictor(p: _PredictorV1a2) -> dict[str, Any]:
    out = _extension(p)
    if p.custom is not None:
        out["containers"] = _container(p.custom)
    for key in (
        "tensorflow",
        "triton",
        "xgboost",
        "lightgbm",
        "sklearn",
        "onnx",
        "pytorch",
        "pmml",
    ):
        fw: _FrameworkV1a2 | None = getattr(p, key)
        if fw is None:
            continue
        spec = fw.model_dump(
            by_alias=True, exclude_none=True, exclude={"nthread", "model_class_name"}
        )
        if fw.nthread is not None:
            spec["args"] = [f"--nthread={fw.nthread}"]
        out[key] = spec
    return out


def _endpoint(e: _EndpointV1a2) -> dict[str, Any]:
    spec: dict[str, Any] = {"predictor": _predictor(e.predictor)}
    if e.transformer is not None:
        spec["transformer"] = {
            **_extension(e.transformer),
            "containers": _container(e.transformer.custom),
        }
    if e.explainer is not None:
        ex = {**_extension(e.explainer)}
        if e.explainer.custom is not None:
            ex["containers"] = _container(e.explainer.custom)
        # alibi/aix are passed through so the v1beta1 schema refuses them by name.
        for key in ("alibi", "aix"):
            if getattr(e.explainer, key) is not None:
                ex[key] = getattr(e.explainer, key)
        spec["explainer"] = ex
    return spec


def convert_v1alpha2(raw: dict[str, Any]) -> V1Alpha2Converted:
    """Validate a v1alpha2 document (pydantic errors propagate) and convert it."""
    doc = InferenceServiceV1a2.model_validate(raw)
    if doc.spec.canary is None and doc.spec.canary_traffic_percent:
        raise ValueError("Canary must be specified when CanaryTrafficPercent > 0.")
    meta = doc.metadata.model_dump(by_alias=True, exclude_none=True)
    default = {
        "apiVersion": V1BETA1,
        "kind": "InferenceService",
        "metadata": meta,
        "spec": _endpoint(doc.spec.default),
    }
    canary = _endpoint(doc.spec.canary) if doc.spec.canary is not None else None
    percent = doc.spec.canary_traffic_percent or 0
    return V1Alpha2Converted(default=default, canary_spec=canary, canary_percent=percent)
