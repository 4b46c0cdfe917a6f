"""KServe's webhook rules on ``spec.predictor.workerSpec`` (multi-node serving).

Pure: ``multinode_rules`` returns ``"<field path>: <KServe's message>"`` lines, every broken rule
(KServe stops at its first). Source: kserve/kserve ``pkg/apis/serving/v1beta1/
inference_service_validation.go`` (validateMultiNodeVariables, the error constants beside the
component types) and ``pkg/utils/utils.go`` (HasUnknownGpuResourceType,
UpdateGPUResourceTypeListByAnnotation, IsValidCustomGPUArray). KServe's defaulter turns a legacy
framework key into ``model:`` before its webhook runs, so the ``model:`` rules apply to
``sklearn:``, ``huggingface:``... as well; a custom ``containers:`` predictor gets only the
``workerSpec`` ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from minikn.api.extension_rules import clip
from minikn.api.k8s import ResourceRequirements
from minikn.api.schema import InferenceService, PredictorExtensionSpec

__all__ = [
    "AUTOSCALER_CLASS",
    "DEFAULT_GPU_RESOURCE_TYPES",
    "GPU_RESOURCE_TYPES",
    "MULTINODE_STORAGE_PROTOCOLS",
    "multinode_rules",
]

AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
GPU_RESOURCE_TYPES = "serving.kserve.io/gpu-resource-types"
"""KServe's ``CustomGPUResourceTypesAnnotationKey``: a JSON list of more GPU resource names."""
DEFAULT_GPU_RESOURCE_TYPES = ("nvidia.com/gpu", "amd.com/gpu", "intel.com/gpu", "habana.ai/gaudi")
"""KServe's ``DefaultGPUResourceTypeList``."""
_BASIC_RESOURCES = frozenset({"cpu", "memory", "storage", "ephemeral-storage"})
MULTINODE_STORAGE_PROTOCOLS = ("pvc", "oci")
PIPELINE_PARALLEL_SIZE_ENV = "PIPELINE_PARALLEL_SIZE"
TENSOR_PARALLEL_SIZE_ENV = "TENSOR_PARALLEL_SIZE"


def _invalid(name: str, rule: str) -> str:
    """KServe's ``the InferenceService %q is invalid: ...`` prefix (Go's %q: a JSON string)."""
    return f"the InferenceService {json.dumps(name)} is invalid: {rule}"


def gpu_types(annotations: Mapping[str, str]) -> tuple[str, ...] | str:
    """The GPU resource names allowed: KServe's defaults plus the annotation's list, or the
    annotation's error message when it is not a non-empty JSON array of non-empty strings."""
    raw = annotations.get(GPU_RESOURCE_TYPES, "")
    if not raw:
        return DEFAULT_GPU_RESOURCE_TYPES
    try:
        extra = json.loads(raw)
    except ValueError:
        extra = None
    if not isinstance(extra, list) or not extra or not all(isinstance(t, str) and t for t in extra):
        return (
            f"invalid GPU format({clip(raw)}) for {GPU_RESOURCE_TYPES} annotation: "
            "must be a valid JSON array"
        )
    return (*DEFAULT_GPU_RESOURCE_TYPES, *extra)


def unknown_gpu_type(resources: ResourceRequirements | None, allowed: Sequence[str]) -> bool:
    """KServe's HasUnknownGpuResourceType: a limit or request that is neither CPU, memory,
    storage nor a known GPU resource (``hugepages-2Mi`` counts, as in KServe)."""
    if resources is None:
        return False
    names = {*(resources.limits or {}), *(resources.requests or {})}
    return bool(names - _BASIC_RESOURCES - set(allowed))


def _env_names(ext: PredictorExtensionSpec) -> set[str]:
    return {e.name for e in ext.env or ()}


def multinode_rules(isvc: InferenceService) -> list[str]:
    """KServe's validateMultiNodeVariables: one line per broken rule, none without a
    ``workerSpec``."""
    predictor = isvc.spec.predictor
    worker = predictor.worker_spec
    if worker is None:
        return []
    name = isvc.metadata.name or ""
    annotations = isvc.metadata.annotations or {}
    at = "spec.predictor.workerSpec"
    out: list[str] = []
    if len(worker.containers or ()) > 1:
        out.append(
            f"{at}.containers: "
            + _invalid(name, "setting multiple containers in workerSpec is not allowed")
        )
    allowed = gpu_types(annotations)
    if isinstance(allowed, str):
        out.append(f"metadata.annotations[{GPU_RESOURCE_TYPES}]: {allowed}")
        allowed = DEFAULT_GPU_RESOURCE_TYPES
    unknown_gpu = _invalid(
        name,
        f"Unknown GPU resource type. Set '{GPU_RESOURCE_TYPES}' annotation to use custom gpu "
        "resource type",
    )
    key = predictor.implementation()
    ext = getattr(predictor, key) if key != "containers" else None
    if isinstance(ext, PredictorExtensionSpec):
        model_at = f"spec.predictor.{key}"
        env = _env_names(ext)
        for var in (PIPELINE_PARALLEL_SIZE_ENV, TENSOR_PARALLEL_SIZE_ENV):
            if var in env:
                out.append(
                    f"{model_at}.env: "
                    + _invalid(name, f"setting {var} in environment variables is not allowed")
                )
        if unknown_gpu_type(ext.resources, allowed):
            out.append(f"{model_at}.resources: {unknown_gpu}")
        if ext.storage_uri is None:
            out.append(
                f"{model_at}.storageUri: "
                + _invalid(name, "StorageURI must be set for multinode enabled")
            )
        else:
            protocol = ext.storage_uri.split("://", 1)[0]
            if protocol not in MULTINODE_STORAGE_PROTOCOLS:
                out.append(
                    f"{model_at}.storageUri: "
                    + _invalid(
                        name,
                        "Multinode only supports 'pvc' and 'oci' Storage Protocol"
                        f"({clip(protocol)})",
                    )
                )
        klass = annotations.get(AUTOSCALER_CLASS, "")
        if klass != "none":
            out.append(
                f"metadata.annotations[{AUTOSCALER_CLASS}]: "
                + _invalid(name, f"Multinode only supports 'none' autoscaler({clip(klass)})")
            )
    for field, size in (
        ("pipelineParallelSize", worker.pipeline_parallel_size),
        ("tensorParallelSize", worker.tensor_parallel_size),
    ):
        if size is not None and size < 1:
            go_field = field[0].upper() + field[1:]
            out.append(
                f"{at}.{field}: "
                + _invalid(name, f"WorkerSpec.{go_field} cannot be less than 1({size})")
            )
    for i, c in enumerate(worker.containers or ()):
        if unknown_gpu_type(c.resources, allowed):
            out.append(f"{at}.containers[{i}].resources: {unknown_gpu}")
    return out
