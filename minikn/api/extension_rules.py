"""KServe's webhook rules on ``autoScaling.metrics`` (HPA and KEDA) and on ``storageUris``.

Pure: each function takes parsed fields and returns ``"<field path>: <KServe's message>"`` lines,
one per broken entry (KServe stops at its first error; minikn lists them all). Source: kserve/kserve
``pkg/apis/serving/v1beta1/inference_service_validation.go`` (validateScalingHPACompExtension,
validateScalingKedaCompExtension, validateScaleTarget, validateMultipleStorageURIs,
validateStorageURISpec, validateMultipleStorageURIsSpec) and ``predictor_custom.go``
(GetStorageUri).
"""

from __future__ import annotations

from collections.abc import Sequence

from minikn.api.containers import parse_memory
from minikn.api.k8s import K8sContainer
from minikn.api.schema import (
    AutoScalingSpec,
    ExternalMetricSource,
    MetricTarget,
    PodMetricSource,
    ResourceMetricSource,
    StorageUri,
)
from minikn.core.errors import InvalidInput

__all__ = [
    "DEFAULT_MOUNT_PATH",
    "INVALID_STORAGE_URI_CONFIG",
    "KEDA_SCALE_METRIC",
    "clip",
    "common_parent_path",
    "custom_storage_uri",
    "hpa_metrics_rules",
    "keda_metrics_rules",
    "storage_uris_rules",
]

DEFAULT_MOUNT_PATH = "/mnt/models"
"""KServe's ``constants.DefaultModelLocalMountPath``: where a ``storageUris`` entry without a
``mountPath`` goes."""
INVALID_STORAGE_URI_CONFIG = "Setting both StorageURI and StorageURIs is not supported."
"""KServe's ``InvalidStorageUriConfigError``."""
KSERVE_CONTAINER = "kserve-container"
STORAGE_URI_ENV = "STORAGE_URI"
ONE_MIB = 2**20
KEDA_SCALE_METRIC = "ScaleMetric is not supported for KEDA"


def clip(value: str, limit: int = 80) -> str:
    """A user's value, cut short so that a 5,000-character name does not flood the message."""
    return value if len(value) <= limit else f"{value[:limit]}...({len(value)} characters)"


def _scale_target(path: str, target: MetricTarget) -> str | None:
    """KServe's validateScaleTarget: the field the target's type names must be set."""
    if target.type == "Utilization":
        if target.average_utilization is None:
            return f"{path}.averageUtilization: the AverageUtilization type should be set"
        if not 1 <= target.average_utilization <= 100:
            return (
                f"{path}.averageUtilization: the target utilization percentage should be a "
                "[1-100] integer"
            )
    elif target.type == "AverageValue" and target.average_value is None:
        return f"{path}.averageValue: the AverageValue type should be set"
    elif target.type == "Value" and target.value is None:
        return f"{path}.value: the Value type should be set"
    return None


def hpa_metrics_rules(path: str, auto_scaling: AutoScalingSpec | None) -> list[str]:
    """An HPA scales on ``Resource`` metrics only, each with its ``resource`` set."""
    out: list[str] = []
    for i, m in enumerate(auto_scaling.metrics or () if auto_scaling is not None else ()):
        at = f"{path}.autoScaling.metrics[{i}]"
        if m.type != "Resource":
            out.append(
                f"{at}.type: invalid HPA metric source type with value [{m.type}],"
                "valid metric source types are Resource"
            )
        elif m.resource is None:
            out.append(
                f"{at}.resource: metricSpec.Resource is not set for resource metric source type"
            )
    return out


def _memory_below_1mib(value: str | int | float) -> str | None:
    try:
        size = parse_memory(str(value) if isinstance(value, float) else value)
    except InvalidInput as exc:
        return exc.message
    return "the memory target value should be greater than 1 MiB" if size < ONE_MIB else None


def _keda_source(
    at: str, key: str, kind: str, source: ExternalMetricSource | PodMetricSource | None
) -> str | None:
    """One ``External`` or ``PodMetric`` entry: its source, a query and a threshold ``value``."""
    if source is None:
        go_name = "External" if key == "external" else "PodMetric"
        return f"{at}.{key}: metricSpec.{go_name} is not set for {kind} metric source type"
    if source.metric is None or not source.metric.query:
        return f"{at}.{key}.metric.query: the query should not be empty"
    target = source.target or MetricTarget()
    if target.value is None:
        return f"{at}.{key}.target.value: the target threshold value should not be empty"
    return _scale_target(f"{at}.{key}.target", target)


def _keda_resource(at: str, resource: ResourceMetricSource | None) -> str | None:
    if resource is None:
        return f"{at}.resource: metricSpec.Resource is not set for resource metric source type"
    target = resource.target or MetricTarget()
    tpath = f"{at}.resource.target"
    if resource.name == "cpu" and target.type != "Utilization":
        return f"{tpath}.type: the cpu target value type should be Utilization"
    if resource.name == "memory":
        if target.type not in ("AverageValue", "Utilization"):
            return (
                f"{tpath}.type: the memory target value type should be AverageValue or Utilization"
            )
        if target.type == "AverageValue" and target.average_value is not None:
            small = _memory_below_1mib(target.average_value)
            if small is not None:
                return f"{tpath}.averageValue: {small}"
    return _scale_target(tpath, target)


def keda_metrics_rules(path: str, auto_scaling: AutoScalingSpec | None) -> list[str]:
    """KEDA's ``autoScaling`` metrics: CPU targets utilization, memory a utilization or an
    average of at least 1 MiB, external and pod metrics a query and a threshold ``value``."""
    out: list[str] = []
    for i, m in enumerate(auto_scaling.metrics or () if auto_scaling is not None else ()):
        at = f"{path}.autoScaling.metrics[{i}]"
        if m.type == "Resource":
            err = _keda_resource(at, m.resource)
        elif m.type == "External":
            err = _keda_source(at, "external", "external", m.external)
        else:
            err = _keda_source(at, "podmetric", "pod", m.pod_metric)
        if err is not None:
            out.append(err)
    return out


def custom_storage_uri(containers: Sequence[K8sContainer] | None) -> str | None:
    """A custom component's ``STORAGE_URI`` env: on ``kserve-container``, the name KServe's
    defaulter gives the first container when it is the only one or has no name."""
    if not containers:
        return None
    for i, c in enumerate(containers):
        name = c.name or ""
        if i == 0 and (len(containers) == 1 or not name):
            name = KSERVE_CONTAINER
        if name == KSERVE_CONTAINER:
            return next((e.value or "" for e in c.env or () if e.name == STORAGE_URI_ENV), None)
    return None


def common_parent_path(paths: Sequence[str]) -> str:
    """KServe's ``utils.FindCommonParentPath``: the longest shared leading components, ``/``
    when none (``/mnt/m/a`` and ``/mnt/m/b`` -> ``/mnt/m``; ``/a`` and ``/b`` -> ``/``)."""
    parts = [p.strip("/").split("/") if p.strip("/") else [] for p in paths]
    if any(not p for p in parts):
        return "/"
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/" + "/".join(common) if common else "/"


def _entry_rule(at: str, entry: StorageUri) -> str | None:
    """KServe's validateStorageURISpec."""
    mount = entry.mount_path if entry.mount_path is not None else DEFAULT_MOUNT_PATH
    if entry.uri == "":
        return f"{at}.uri: storage URI cannot be empty"
    if mount == "/":
        return f"{at}.mountPath: storage path cannot be empty"
    if not mount.startswith("/"):
        return f"{at}.mountPath: storage path must be absolute: {clip(mount)}"
    if ".." in mount:
        return (
            f"{at}.mountPath: storage path cannot contain '..' for security reasons: {clip(mount)}"
        )
    return None


def storage_uris_rules(
    path: str, storage_uri: str | None, uris: Sequence[StorageUri] | None
) -> list[str]:
    """``storageUris`` of one component: not beside a ``storageUri``; each entry a URI and an
    absolute mount path without ``..``; PVC mount paths unique; the other mount paths under one
    parent directory other than ``/`` (KServe mounts one volume at their common parent).

    As KServe, the PVC and common-parent checks run only when at least two entries are not PVCs."""
    if uris is None:
        return []
    out: list[str] = []
    if storage_uri is not None:
        out.append(f"{path}.storageUris: {INVALID_STORAGE_URI_CONFIG}")
    at = f"{path}.storageUris"
    entry_errors = [e for i, u in enumerate(uris) if (e := _entry_rule(f"{at}[{i}]", u))]
    out.extend(entry_errors)
    if entry_errors:
        return out
    mounts = [u.mount_path if u.mount_path is not None else DEFAULT_MOUNT_PATH for u in uris]
    pvc = [m for u, m in zip(uris, mounts, strict=True) if u.uri.startswith("pvc://")]
    others = [m for u, m in zip(uris, mounts, strict=True) if not u.uri.startswith("pvc://")]
    if len(others) <= 1:
        return out
    if len(pvc) != len(set(pvc)):
        out.append(f"{at}: PVC storage paths must be unique")
    if common_parent_path(others) == "/":
        shown = clip(" ".join(others), 400)
        out.append(
            f"{at}: storage paths must have a common parent directory. Current paths: [{shown}] "
            "have no common parent beyond root"
        )
    return out
