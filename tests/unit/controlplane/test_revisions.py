"""KServe's ComponentExtensionSpec -> revision mapping, defaults and change detection."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.api.runtimes import NoSupportingRuntime, default_registry
from minikn.api.schema import PredictorSpec, TransformerSpec
from minikn.config import Settings
from minikn.config.kserve import AgentLoggerConfig, InferenceServiceConfig
from minikn.controlplane.revisions import (
    build_revision,
    component_hash,
    revision_annotations,
    revision_name,
)

MIN, MAX = "autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale"
CLASS, TARGET, METRIC = (
    "autoscaling.knative.dev/class",
    "autoscaling.knative.dev/target",
    "autoscaling.knative.dev/metric",
)


def _pred(**fields: Any) -> PredictorSpec:
    return PredictorSpec.model_validate({"sklearn": {"storageUri": "gs://b/m"}, **fields})


def test_revision_name_is_zero_padded() -> None:
    assert revision_name("iris", "predictor", 12) == "iris-predictor-00012"


@pytest.mark.parametrize(
    ("fields", "meta", "expected"),
    [
        pytest.param({}, {}, {CLASS: "kpa.autoscaling.knative.dev", MIN: "1"}, id="defaults"),
        pytest.param(
            {"minReplicas": 0, "maxReplicas": 5, "scaleTarget": 10, "scaleMetric": "rps"},
            {},
            {CLASS: "kpa.autoscaling.knative.dev", MIN: "0", MAX: "5", TARGET: "10", METRIC: "rps"},
            id="all-fields",
        ),
        pytest.param(
            {"annotations": {MIN: "7", MAX: "9", "autoscaling.knative.dev/window": "30s"}},
            {},
            {
                CLASS: "kpa.autoscaling.knative.dev",
                MIN: "1",
                "autoscaling.knative.dev/window": "30s",
            },
            id="user-min-max-stripped-and-regenerated",
        ),
        pytest.param(
            {},
            {"autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev", "unrelated": "x"},
            {CLASS: "hpa.autoscaling.knative.dev", MIN: "1"},
            id="isvc-autoscaling-annotations-propagate",
        ),
    ],
)
def test_revision_annotations(
    fields: dict[str, Any], meta: dict[str, str], expected: dict[str, str]
) -> None:
    assert revision_annotations(_pred(**fields), meta, Settings()) == expected


def test_hash_ignores_canary_percent_but_not_spec() -> None:
    base = component_hash(_pred(), {})
    assert component_hash(_pred(canaryTrafficPercent=30), {}) == base
    assert component_hash(_pred(minReplicas=3), {}) != base
    assert component_hash(_pred(), {"minikn.io/internal-network": "true"}) != base


def _build(
    spec: PredictorSpec | TransformerSpec, settings: Settings | None = None, **kw: Any
) -> Any:
    return build_revision(
        isvc="iris",
        namespace="ns1",
        component="transformer" if isinstance(spec, TransformerSpec) else "predictor",
        spec=spec,
        meta_annotations=kw.pop("meta", {}),
        generation=1,
        settings=settings or Settings(),
        registry=default_registry(),
        created_at=5.0,
    )


def test_model_predictor_resolves_runtime_and_defaults() -> None:
    rev = _build(_pred())
    assert rev.name == "iris-predictor-00001"
    assert rev.model.name == "iris"
    assert rev.model.runtime == "minikn-sklearnserver"
    assert rev.model.storage_uri == "gs://b/m"
    assert rev.protocol == "v1"
    assert rev.builtin_server is True
    assert (rev.timeout_seconds, rev.container_concurrency) == (300, 0)
    assert rev.predictor_host is None
    assert rev.logger is None
    assert rev.batcher is None


def test_logger_batcher_and_internal_network_defaults() -> None:
    settings = Settings(
        kserve=InferenceServiceConfig(logger=AgentLoggerConfig(defaultUrl="http://sink"))
    )
    rev = _build(
        _pred(logger={"mode": "request"}, batcher={}, timeout=30),
        settings,
        meta={"minikn.io/internal-network": "true"},
    )
    assert (rev.logger.url, rev.logger.mode) == ("http://sink", "request")
    assert (rev.batcher.max_batch_size, rev.batcher.max_latency_ms) == (32, 5000)
    assert rev.timeout_seconds == 30
    assert rev.network_internal is True


def test_custom_transformer_container_and_predictor_host() -> None:
    spec = TransformerSpec.model_validate(
        {
            "containers": [
                {"image": "me/t:1", "args": ["--x"], "resources": {"limits": {"nvidia.com/gpu": 1}}}
            ]
        }
    )
    rev = _build(spec)
    assert rev.container.image == "me/t:1"
    assert rev.container.args == ("--x",)
    assert rev.container.resources.gpus == 1
    assert rev.predictor_host == "iris-predictor.ns1.example.com"
    assert rev.model is None


def test_a_workerspec_predictor_is_built_not_runnable_with_multinode_unsupported() -> None:
    spec = PredictorSpec.model_validate(
        {
            "model": {"modelFormat": {"name": "huggingface"}, "storageUri": "pvc://p/m"},
            "workerSpec": {"pipelineParallelSize": 3, "tensorParallelSize": 2},
        }
    )
    rev = _build(spec)
    assert rev.model is not None
    assert rev.model.runtime == "kserve-huggingfaceserver"
    assert rev.not_runnable is not None
    assert rev.not_runnable.reason == "MultiNodeUnsupported"
    assert "across 3 nodes, 2 GPUs each" in rev.not_runnable.message


def test_a_runnable_revision_dumps_without_a_not_runnable_key() -> None:
    rev = _build(_pred())
    assert rev.not_runnable is None
    assert "not_runnable" not in rev.model_dump()


def test_unknown_format_raises_no_supporting_runtime() -> None:
    spec = PredictorSpec.model_validate({"model": {"modelFormat": {"name": "caffe"}}})
    with pytest.raises(NoSupportingRuntime) as info:
        _build(spec)
    assert info.value.reason == "NoSupportingRuntime"


def test_storage_uri_env_on_a_custom_container_is_fetched_and_rewritten() -> None:
    spec = PredictorSpec.model_validate(
        {
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "me/s:1",
                    "env": [{"name": "STORAGE_URI", "value": "s3://b/m"}],
                }
            ]
        }
    )
    rev = _build(spec)
    assert rev.model.storage_uri == "s3://b/m"
    assert dict(rev.container.env)["STORAGE_URI"] == "/mnt/models"
