"""Legacy framework keys and v1alpha2 documents convert as KServe's webhooks do."""

from __future__ import annotations

import pytest

from minikn.api.documents import Document
from minikn.api.schema import ModelSpec, PredictorSpec
from minikn.api.validate import ParsedIsvc, parse_document
from minikn.config import Settings
from minikn.testing.manifests import isvc_doc


def _parse(body: dict) -> ParsedIsvc:  # type: ignore[type-arg]
    parsed = parse_document(Document("t.yaml", 0, body), Settings())
    assert isinstance(parsed, ParsedIsvc)
    return parsed


@pytest.mark.parametrize(
    ("key", "protocol"),
    [
        ("sklearn", None),
        ("xgboost", None),
        ("lightgbm", None),
        ("tensorflow", None),
        ("pytorch", None),
        ("pmml", None),
        ("paddle", None),
        ("triton", "v2"),
        ("onnx", "v2"),
        ("huggingface", "v2"),
    ],
)
def test_legacy_key_becomes_model_format(key: str, protocol: str | None) -> None:
    parsed = _parse(isvc_doc(**{key: {"storageUri": "gs://b/m", "runtimeVersion": "1.2"}}))
    spec = parsed.components["predictor"].spec
    assert isinstance(spec, PredictorSpec)
    assert spec.implementation() == "model"
    assert getattr(spec, key) is None
    model = spec.model
    assert isinstance(model, ModelSpec)
    assert (model.model_format.name, model.model_format.version) == (key, None)
    assert model.protocol_version == protocol
    assert (model.storage_uri, model.runtime_version) == ("gs://b/m", "1.2")


def test_legacy_key_keeps_an_explicit_protocol() -> None:
    parsed = _parse(isvc_doc(triton={"storageUri": "gs://b/m", "protocolVersion": "grpc-v2"}))
    spec = parsed.components["predictor"].spec
    assert isinstance(spec, PredictorSpec)
    assert spec.model is not None
    assert spec.model.protocol_version == "grpc-v2"


def _v1alpha2(canary: bool, percent: int | None = None) -> dict:  # type: ignore[type-arg]
    spec: dict = {  # type: ignore[type-arg]
        "default": {
            "predictor": {
                "minReplicas": 2,
                "parallelism": 4,
                "sklearn": {"storageUri": "gs://b/v1"},
            },
            "transformer": {"custom": {"container": {"image": "t:1"}}},
        }
    }
    if canary:
        spec["canary"] = {
            "predictor": {"sklearn": {"storageUri": "gs://b/v2", "runtimeVersion": "x"}}
        }
    if percent is not None:
        spec["canaryTrafficPercent"] = percent
    return {
        "apiVersion": "serving.kubeflow.org/v1alpha2",
        "kind": "InferenceService",
        "metadata": {"name": "old"},
        "spec": spec,
    }


def test_v1alpha2_default_endpoint_converts_fields() -> None:
    parsed = _parse(_v1alpha2(canary=False))
    pred = parsed.components["predictor"]
    assert pred.stable is None
    assert pred.canary_percent is None
    assert isinstance(pred.spec, PredictorSpec)
    assert pred.spec.model is not None
    assert pred.spec.min_replicas == 2
    assert pred.spec.container_concurrency == 4  # parallelism -> containerConcurrency
    assert pred.spec.model.storage_uri == "gs://b/v1"
    trans = parsed.components["transformer"].spec
    assert trans.containers is not None
    assert trans.containers[0].image == "t:1"


def test_v1alpha2_canary_is_kept_as_latest_with_default_as_stable() -> None:
    parsed = _parse(_v1alpha2(canary=True, percent=25))
    pred = parsed.components["predictor"]
    assert pred.canary_percent == 25
    assert isinstance(pred.spec, PredictorSpec)
    assert pred.spec.model is not None
    assert pred.spec.model.storage_uri == "gs://b/v2"
    assert isinstance(pred.stable, PredictorSpec)
    assert pred.stable.model is not None
    assert pred.stable.model.storage_uri == "gs://b/v1"
