"""Invalid documents are refused naming the document, the field path and the rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikn.api.documents import Document, parse_text
from minikn.api.validate import ParsedRuntime, parse_document
from minikn.config import Settings
from minikn.core.errors import InvalidInput
from minikn.testing.manifests import isvc_doc


def _with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = copy.deepcopy(base or isvc_doc())
    node = doc
    *parents, last = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value
    return doc


V1ALPHA2_NO_CANARY = {
    "apiVersion": "serving.kubeflow.org/v1alpha2",
    "kind": "InferenceService",
    "metadata": {"name": "old"},
    "spec": {
        "default": {"predictor": {"sklearn": {"storageUri": "gs://b"}}},
        "canaryTrafficPercent": 10,
    },
}

CASES = [
    pytest.param(
        V1ALPHA2_NO_CANARY,
        "spec.canaryTrafficPercent",
        "Canary must be specified when CanaryTrafficPercent > 0.",
        id="v1alpha2-percent-without-canary",
    ),
    pytest.param(
        _with("spec.default.predictor.sklearn.storageUri", None, V1ALPHA2_NO_CANARY),
        "spec.default.predictor.sklearn.storageUri",
        "Input should be a valid string",
        id="v1alpha2-wrong-type",
    ),
    pytest.param(
        _with("spec", {}), "spec.predictor", "required field is missing", id="missing-predictor"
    ),
    pytest.param(
        _with("spec.predictor.xgboost", {"storageUri": "gs://x"}),
        "spec.predictor",
        "exactly one of [SKLearn, XGBoost, Tensorflow, PyTorch, Triton, ONNX, HuggingFace, PMML, "
        "LightGBM, Paddle, Model, CustomPredictor] must be specified in PredictorSpec",
        id="two-implementations",
    ),
    pytest.param(
        _with("metadata.name", "Bad_Name"),
        "metadata.name",
        "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'",
        id="bad-name",
    ),
    pytest.param(
        _with("spec.predictor.minReplicas", -1),
        "spec.predictor.minReplicas",
        "'MinReplicas' cannot be less than 0",
        id="negative-min-replicas",
    ),
    pytest.param(
        _with("spec.predictor.maxReplicas", 2, _with("spec.predictor.minReplicas", 3)),
        "spec.predictor.minReplicas",
        "'MinReplicas' cannot be greater than MaxReplicas",
        id="min-greater-than-max",
    ),
    pytest.param(
        _with("spec.predictor.canaryTrafficPercent", 120),
        "spec.predictor.canaryTrafficPercent",
        "TrafficPercent must be between [0, 100]",
        id="percent-out-of-range",
    ),
    pytest.param(
        _with("spec.predictor.sklearn.storageUrl", "gs://x"),
        "spec.predictor.sklearn.storageUrl",
        "unknown field",
        id="unknown-field",
    ),
    pytest.param(
        _with("spec.predictor.minReplicas", "two"),
        "spec.predictor.minReplicas",
        "valid integer",
        id="wrong-type",
    ),
    pytest.param(
        _with("spec.predictor.timeout", 900),
        "spec.predictor.timeout",
        "expected 0 <= 900 <= 600",
        id="timeout-above-max",
    ),
    pytest.param(
        _with("spec.explainer", {"alibi": {"type": "AnchorTabular"}}),
        "spec.explainer",
        "explainer 'alibi' was removed in KServe v0.13",
        id="removed-alibi",
    ),
    pytest.param(
        _with("spec.predictor.annotations", {"autoscaling.knative.dev/target": "-5"}),
        "spec.predictor.annotations",
        "autoscaling.knative.dev/target",
        id="bad-autoscaling-annotation",
    ),
    pytest.param(
        _with("spec.predictor.scaleMetric", "cpu"),
        "spec.predictor.scaleMetric",
        "[cpu] is not a supported metric for class kpa.autoscaling.knative.dev",
        id="cpu-metric-with-kpa",
    ),
    pytest.param(
        {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "InferenceGraph",
            "metadata": {"name": "g"},
            "spec": {"nodes": {"main": {"routerType": "Sequence"}}},
        },
        "spec.nodes",
        "root node not found, InferenceGraph needs a node with name 'root' as the root node of "
        "the graph",
        id="inference-graph-without-root",
    ),
    pytest.param(
        {"apiVersion": "v1", "kind": "TrainedModel", "metadata": {"name": "g"}},
        "kind",
        "kind: TrainedModel is not supported (expected InferenceService, InferenceGraph, "
        "ClusterServingRuntime or ServingRuntime)",
        id="unknown-kind",
    ),
]


@pytest.mark.parametrize(("body", "path", "rule"), CASES)
def test_invalid_document_names_doc_path_and_rule(
    body: dict[str, Any], path: str, rule: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_document(Document("bad.yaml", 3, body), Settings())
    message = info.value.message
    name = body.get("metadata", {}).get("name", "?")
    assert message.startswith(f"bad.yaml[3] {body['kind']}/{name}: "), message
    assert f": {path}" in message, message
    assert rule in message, message


def test_bad_yaml_names_the_file_and_line() -> None:
    [doc] = parse_text("a: [1, 2\nb: 3\n", "broken.yaml")
    with pytest.raises(InvalidInput, match=r"broken.yaml\[0\]: invalid YAML: .*line"):
        parse_document(doc, Settings())


def test_serving_runtime_is_recognised() -> None:
    body = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": "rt"},
    }
    parsed = parse_document(Document("rt.yaml", 0, body), Settings())
    assert isinstance(parsed, ParsedRuntime)
    assert parsed.name == "rt"


def test_valid_kubernetes_container_fields_are_accepted() -> None:
    body = isvc_doc(
        containers=[
            {
                "name": "kserve-container",
                "image": "me/server:1",
                "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "A", "value": "1"}],
                "resources": {"limits": {"nvidia.com/gpu": 1, "cpu": "500m"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 2},
                "securityContext": {"runAsNonRoot": True},
            }
        ],
        serviceAccountName="sa",
        nodeSelector={"gpu": "a100"},
        tolerations=[{"key": "gpu", "operator": "Exists"}],
    )
    parse_document(Document("ok.yaml", 0, body), Settings())
