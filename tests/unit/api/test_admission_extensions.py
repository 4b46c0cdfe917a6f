"""KServe's ``autoScaling.metrics``, ``storageUris`` and confidential rules, and Kubernetes'
strict integers, each refused with its exact field path and message and accepted at the nearest
valid value."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.api.documents import Document
from minikn.api.validate import parse_document
from minikn.config import Settings
from minikn.core.errors import InvalidInput
from tests.unit.api.test_admission_rules import HPA, doc, sklearn

STD = {"serving.kserve.io/deploymentMode": "Standard"}
KEDA = {**STD, "serving.kserve.io/autoscalerClass": "keda"}
M0 = "spec.predictor.autoScaling.metrics[0]"
BARE_MODEL = {"sklearn": None, "model": {"modelFormat": {"name": "sklearn"}}}
"""A predictor without ``storageUri``."""


def metrics(*specs: dict[str, Any], annotations: dict[str, str] = KEDA, **more: Any) -> Any:
    return doc({"autoScaling": {"metrics": list(specs)}, **more}, meta={"annotations": annotations})


def resource(name: str, **target: Any) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "target": target}}


def external(query: str = "sum(rate(x[1m]))", **target: Any) -> dict[str, Any]:
    metric = {"backend": "prometheus", "serverAddress": "http://prom:9090", "query": query}
    return {"type": "External", "external": {"metric": metric, "target": target}}


def podmetric(query: str = "avg(x)", **target: Any) -> dict[str, Any]:
    metric = {"backend": "opentelemetry", "metricNames": ["x"], "query": query}
    return {"type": "PodMetric", "podmetric": {"metric": metric, "target": target}}


def uris(*entries: tuple[str, str | None], **predictor: Any) -> Any:
    listed = [{"uri": u} if m is None else {"uri": u, "mountPath": m} for u, m in entries]
    return doc({**BARE_MODEL, **predictor, "storageUris": listed})


def custom(env: list[dict[str, str]], name: str = "kserve-container") -> dict[str, Any]:
    return {"name": name, "image": "me/p:1", "env": env}


STORAGE_ENV = [{"name": "STORAGE_URI", "value": "gs://b/m"}]
CONFIDENTIAL_ID = "kbs:///repo/key/tag"
NOT_INT = "Input should be a valid integer"

REFUSED = [
    # --- autoScaling.metrics under an HPA (Standard mode, or Knative's HPA class)
    (
        metrics(external(value=10), annotations=STD),
        f"{M0}.type",
        "invalid HPA metric source type with value [External],valid metric source types are "
        "Resource",
        "hpa-external-metric",
    ),
    (
        metrics(external(value=10), annotations=HPA),
        f"{M0}.type",
        "invalid HPA metric source type with value [External],valid metric source types are "
        "Resource",
        "knative-hpa-class-external-metric",
    ),
    (
        metrics({"type": "Resource"}, annotations=STD),
        f"{M0}.resource",
        "metricSpec.Resource is not set for resource metric source type",
        "hpa-resource-unset",
    ),
    (
        doc({"scaleMetric": "memory", "scaleTarget": 200}, meta={"annotations": STD}),
        "spec.predictor.scaleTarget",
        "the target utilization percentage should be a [1-100] integer",
        "hpa-memory-target-above-100-as-kserve",
    ),
    # --- KEDA (Standard mode, serving.kserve.io/autoscalerClass: keda)
    (
        metrics(resource("cpu", type="Utilization", averageUtilization=50), scaleMetric="cpu"),
        "spec.predictor.scaleMetric",
        "ScaleMetric is not supported for KEDA",
        "keda-scale-metric",
    ),
    (
        metrics(resource("cpu", type="AverageValue", averageValue="500m")),
        f"{M0}.resource.target.type",
        "the cpu target value type should be Utilization",
        "keda-cpu-average-value",
    ),
    (
        metrics(resource("memory", type="Value", value="1Gi")),
        f"{M0}.resource.target.type",
        "the memory target value type should be AverageValue or Utilization",
        "keda-memory-value",
    ),
    (
        metrics(resource("memory", type="AverageValue", averageValue="1023Ki")),
        f"{M0}.resource.target.averageValue",
        "the memory target value should be greater than 1 MiB",
        "keda-memory-below-1mib",
    ),
    (
        metrics(resource("memory", type="AverageValue")),
        f"{M0}.resource.target.averageValue",
        "the AverageValue type should be set",
        "keda-memory-average-value-unset",
    ),
    (
        metrics(resource("cpu", type="Utilization")),
        f"{M0}.resource.target.averageUtilization",
        "the AverageUtilization type should be set",
        "keda-utilization-unset",
    ),
    (
        metrics(resource("cpu", type="Utilization", averageUtilization=101)),
        f"{M0}.resource.target.averageUtilization",
        "the target utilization percentage should be a [1-100] integer",
        "keda-utilization-101",
    ),
    (
        metrics({"type": "External"}),
        f"{M0}.external",
        "metricSpec.External is not set for external metric source type",
        "keda-external-unset",
    ),
    (
        metrics(external(query="", type="Value", value=10)),
        f"{M0}.external.metric.query",
        "the query should not be empty",
        "keda-external-empty-query",
    ),
    (
        metrics(external(type="AverageValue", averageValue=10)),
        f"{M0}.external.target.value",
        "the target threshold value should not be empty",
        "keda-external-no-threshold",
    ),
    (
        metrics({"type": "PodMetric"}),
        f"{M0}.podmetric",
        "metricSpec.PodMetric is not set for pod metric source type",
        "keda-podmetric-unset",
    ),
    (
        metrics(podmetric(query="", type="Value", value=5)),
        f"{M0}.podmetric.metric.query",
        "the query should not be empty",
        "keda-podmetric-empty-query",
    ),
    (
        metrics(podmetric(type="Utilization", averageUtilization=50)),
        f"{M0}.podmetric.target.value",
        "the target threshold value should not be empty",
        "keda-podmetric-no-threshold",
    ),
    (
        metrics(podmetric(type="AverageValue", value=5)),
        f"{M0}.podmetric.target.averageValue",
        "the AverageValue type should be set",
        "keda-podmetric-average-value-unset",
    ),
    (
        metrics({"type": "Pods"}),
        "spec.predictor.autoScaling.metrics.0.type",
        "Input should be 'Resource', 'External' or 'PodMetric' (got 'Pods')",
        "metric-type-unknown",
    ),
    (
        metrics({"type": "External", "external": {"metric": {"backend": "influx"}}}),
        "spec.predictor.autoScaling.metrics.0.external.metric.backend",
        "Input should be 'prometheus' or 'graphite' (got 'influx')",
        "external-backend-unknown",
    ),
    # --- storageUris
    (
        doc({"storageUris": [{"uri": "s3://b/m"}]}),
        "spec.predictor.storageUris",
        "Setting both StorageURI and StorageURIs is not supported.",
        "storage-uri-and-uris",
    ),
    (
        uris(("s3://b/m", None), model=None, containers=[custom(STORAGE_ENV)]),
        "spec.predictor.storageUris",
        "Setting both StorageURI and StorageURIs is not supported.",
        "custom-storage-uri-env-and-uris",
    ),
    (
        doc(
            spec={
                "transformer": {
                    "containers": [custom(STORAGE_ENV, name="t")],
                    "storageUris": [{"uri": "s3://b/t"}],
                }
            }
        ),
        "spec.transformer.storageUris",
        "Setting both StorageURI and StorageURIs is not supported.",
        "transformer-storage-uri-env-and-uris",
    ),
    (
        doc(
            spec={
                "explainer": {
                    "art": {"type": "SquareAttack", "storageUri": "gs://b/e"},
                    "storageUris": [{"uri": "s3://b/e"}],
                }
            }
        ),
        "spec.explainer.storageUris",
        "Setting both StorageURI and StorageURIs is not supported.",
        "art-storage-uri-and-uris",
    ),
    (
        uris(("", "/mnt/models")),
        "spec.predictor.storageUris[0].uri",
        "storage URI cannot be empty",
        "storage-uris-empty-uri",
    ),
    (
        uris(("s3://b/m", "/")),
        "spec.predictor.storageUris[0].mountPath",
        "storage path cannot be empty",
        "storage-uris-mount-root",
    ),
    (
        uris(("s3://b/m", "mnt/models")),
        "spec.predictor.storageUris[0].mountPath",
        "storage path must be absolute: mnt/models",
        "storage-uris-relative-mount",
    ),
    (
        uris(("s3://b/m", "/mnt/models/../../etc")),
        "spec.predictor.storageUris[0].mountPath",
        "storage path cannot contain '..' for security reasons: /mnt/models/../../etc",
        "storage-uris-dot-dot",
    ),
    (
        uris(("s3://b/a", "/mnt/a"), ("gs://b/b", "/opt/b")),
        "spec.predictor.storageUris",
        "storage paths must have a common parent directory. Current paths: [/mnt/a /opt/b] "
        "have no common parent beyond root",
        "storage-uris-no-common-parent",
    ),
    (
        uris(
            ("pvc://claim/a", "/data/x"),
            ("pvc://claim/b", "/data/x"),
            ("s3://b/a", "/mnt/models/a"),
            ("s3://b/b", "/mnt/models/b"),
        ),
        "spec.predictor.storageUris",
        "PVC storage paths must be unique",
        "storage-uris-pvc-paths-repeated",
    ),
    # --- confidential model serving
    (
        doc({"sklearn": {"confidential": {"enabled": True}}}),
        "spec.predictor.sklearn.storageUri",
        "confidential model serving requires storageUri to be set",
        "confidential-without-storage-uri",
    ),
    (
        doc(sklearn(confidential={"enabled": True, "resourceId": "kbs://repo/key"})),
        "spec.predictor.sklearn.confidential.resourceId",
        'invalid confidential resourceId format "kbs://repo/key", expected '
        "kbs:///<repo>/<type>/<tag>",
        "confidential-resource-id-malformed",
    ),
    # --- Kubernetes' integers: no bool, float or numeric string; int32 in range
    (
        uris(
            model=None, containers=[{"name": "p", "image": "i", "ports": [{"containerPort": "80"}]}]
        ),
        "spec.predictor.containers.0.ports.0.containerPort",
        f"{NOT_INT} (got '80')",
        "container-port-string",
    ),
    (
        doc(sklearn(ports=[{"containerPort": True}])),
        "spec.predictor.sklearn.ports.0.containerPort",
        f"{NOT_INT} (got True)",
        "container-port-bool",
    ),
    (
        doc(sklearn(ports=[{"containerPort": 8080.0}])),
        "spec.predictor.sklearn.ports.0.containerPort",
        f"{NOT_INT} (got 8080.0)",
        "container-port-float",
    ),
    (
        doc(sklearn(ports=[{"containerPort": 8080, "hostPort": False}])),
        "spec.predictor.sklearn.ports.0.hostPort",
        f"{NOT_INT} (got False)",
        "host-port-bool",
    ),
    (
        doc(sklearn(readinessProbe={"periodSeconds": "10"})),
        "spec.predictor.sklearn.readinessProbe.periodSeconds",
        f"{NOT_INT} (got '10')",
        "probe-period-string",
    ),
    (
        doc(sklearn(livenessProbe={"timeoutSeconds": True})),
        "spec.predictor.sklearn.livenessProbe.timeoutSeconds",
        f"{NOT_INT} (got True)",
        "probe-timeout-bool",
    ),
    (
        doc(sklearn(startupProbe={"failureThreshold": 2**31})),
        "spec.predictor.sklearn.startupProbe.failureThreshold",
        "Input should be less than or equal to 2147483647 (got 2147483648)",
        "probe-threshold-above-int32",
    ),
    (
        doc({"terminationGracePeriodSeconds": 30.5}),
        "spec.predictor.terminationGracePeriodSeconds",
        f"{NOT_INT} (got 30.5)",
        "termination-grace-float",
    ),
    (
        doc({"activeDeadlineSeconds": "60"}),
        "spec.predictor.activeDeadlineSeconds",
        f"{NOT_INT} (got '60')",
        "active-deadline-string",
    ),
    (
        doc({"activeDeadlineSeconds": 0}),
        "spec.predictor.activeDeadlineSeconds",
        "Input should be greater than or equal to 1 (got 0)",
        "active-deadline-zero",
    ),
    (
        doc({"priority": True}),
        "spec.predictor.priority",
        f"{NOT_INT} (got True)",
        "priority-bool",
    ),
    (
        doc({"priority": 2**31}),
        "spec.predictor.priority",
        "Input should be less than or equal to 2147483647 (got 2147483648)",
        "priority-above-int32",
    ),
]


@pytest.mark.parametrize(
    ("body", "path", "message"), [pytest.param(b, p, m, id=i) for b, p, m, i in REFUSED]
)
def test_refused_with_exact_path_and_message(body: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_document(Document("bad.yaml", 0, body), Settings())
    rules = [line.split(": ", 1)[1] for line in info.value.message.splitlines()]
    assert f"{path}: {message}" in rules, rules


ACCEPTED = [
    (
        metrics(resource("cpu", type="Utilization", averageUtilization=80), annotations=STD),
        "hpa-resource-metric",
    ),
    (metrics(external(value=10), annotations={}), "kpa-ignores-autoscaling-metrics"),
    (doc({"scaleMetric": "memory", "scaleTarget": 100}, meta={"annotations": STD}), "hpa-mem-100"),
    (metrics(resource("cpu", type="Utilization", averageUtilization=100)), "keda-cpu-100"),
    (metrics(resource("memory", type="AverageValue", averageValue="1Mi")), "keda-memory-1mib"),
    (metrics(resource("memory", type="Utilization", averageUtilization=1)), "keda-memory-util"),
    (metrics(external(type="Value", value="10")), "keda-external-value"),
    (metrics(external(type="AverageValue", value=10, averageValue=5)), "keda-external-average"),
    (metrics(podmetric(type="Value", value=5)), "keda-podmetric"),
    (metrics(scaleTarget=50), "keda-scale-target-without-metric"),
    (uris(("s3://b/m", None)), "storage-uris-default-mount"),
    (
        uris(("s3://b/base", "/mnt/models/base"), ("gs://b/lora", "/mnt/models/lora")),
        "storage-uris-common-parent",
    ),
    (
        uris(("pvc://claim/a", "/data/x"), ("pvc://claim/b", "/data/x"), ("s3://b/m", "/mnt/m")),
        "pvc-paths-checked-only-beside-two-others-as-kserve",
    ),
    (
        uris(
            ("s3://b/m", None),
            model=None,
            containers=[custom([]), custom(STORAGE_ENV, name="sidecar")],
        ),
        "storage-uri-env-on-a-sidecar-is-not-the-predictors",
    ),
    (
        doc(
            spec={
                "transformer": {
                    "containers": [custom([], name="t")],
                    "storageUris": [{"uri": "s3://b/t", "mountPath": "/mnt/t"}],
                }
            }
        ),
        "transformer-storage-uris",
    ),
    (doc(sklearn(confidential={"enabled": False})), "confidential-disabled"),
    (
        doc(sklearn(confidential={"enabled": True, "resourceId": CONFIDENTIAL_ID})),
        "confidential-with-storage-uri-and-kbs-id",
    ),
    (
        doc(
            sklearn(
                ports=[{"containerPort": 8080, "hostPort": 0}],
                readinessProbe={"periodSeconds": 10, "failureThreshold": 2**31 - 1},
                resources={"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": 0.5}},
            )
        ),
        "integers-and-quantities",
    ),
    (
        doc({"terminationGracePeriodSeconds": 0, "activeDeadlineSeconds": 1, "priority": -5}),
        "pod-integers-at-their-bounds",
    ),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=i) for b, i in ACCEPTED])
def test_nearest_valid_value_is_accepted(body: Any) -> None:
    parse_document(Document("ok.yaml", 0, body), Settings())


def test_a_bool_is_not_a_quantity() -> None:
    body = doc(sklearn(resources={"limits": {"cpu": True}}))
    with pytest.raises(InvalidInput, match=r"spec\.predictor\.sklearn\.resources\.limits\.cpu"):
        parse_document(Document("bad.yaml", 0, body), Settings())


def test_every_broken_metric_and_storage_entry_is_listed() -> None:
    body = metrics({"type": "Resource"}, {"type": "External"}, storageUris=[{"uri": ""}])
    with pytest.raises(InvalidInput) as info:
        parse_document(Document("bad.yaml", 0, body), Settings())
    paths = [line.split(": ")[1] for line in info.value.message.splitlines()]
    assert paths == [
        "spec.predictor.storageUris",
        "spec.predictor.storageUris[0].uri",
        f"{M0}.resource",
        "spec.predictor.autoScaling.metrics[1].external",
    ]
