"""Admission refuses what cannot run, one case per KServe/Knative/Kubernetes rule, both ways.

Each refusal names the field path and the rule in KServe's, Knative's or Kubernetes' words; each
accepted case is the nearest valid value, so a rule that is too wide or too narrow fails a case.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikn.api.documents import Document
from minikn.api.validate import parse_document
from minikn.config import Settings
from minikn.core.errors import InvalidInput
from minikn.testing.manifests import isvc_doc

HPA = {"autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev"}
PYPATH = [{"name": "PYTHONPATH", "value": "/x"}]


def protocol_env(value: str) -> list[dict[str, str]]:
    return [{"name": "PROTOCOL", "value": value}]


def doc(
    predictor: dict[str, Any] | None = None,
    *,
    meta: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    **top: Any,
) -> dict[str, Any]:
    body = isvc_doc()
    pred = body["spec"]["predictor"]
    pred.update(copy.deepcopy(predictor or {}))
    for key in [k for k, v in pred.items() if v is None]:  # {"sklearn": None} drops the default
        del pred[key]
    body["metadata"].update(meta or {})
    body["spec"].update(copy.deepcopy(spec or {}))
    body.update(top)
    return body


def sklearn(**fields: Any) -> dict[str, Any]:
    return {"sklearn": {"storageUri": "gs://bucket/model", **fields}}


NO_AUTOSCALER = {"serving.kserve.io/autoscalerClass": "none"}
GPU_TYPES = "serving.kserve.io/gpu-resource-types"
WORKER = {"name": "worker-container", "image": "kserve/huggingfaceserver:v0.15.2"}


def multinode(
    worker: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    **model: Any,
) -> dict[str, Any]:
    """A multi-node huggingface ISVC as KServe admits it (PVC storage, ``none`` autoscaler);
    ``worker`` and ``model`` override fields, a None value drops one."""
    spec = {"modelFormat": {"name": "huggingface"}, "storageUri": "pvc://llama/model", **model}
    workers = {"pipelineParallelSize": 2, "tensorParallelSize": 1, "containers": [WORKER]}
    workers.update(worker or {})
    predictor = {
        "sklearn": None,
        "model": {k: v for k, v in spec.items() if v is not None},
        "workerSpec": workers,
    }
    return doc(
        predictor, meta={"annotations": NO_AUTOSCALER if annotations is None else annotations}
    )


def invalid(rule: str, name: str = "iris") -> str:
    return f'the InferenceService "{name}" is invalid: {rule}'


UNKNOWN_GPU = invalid(
    "Unknown GPU resource type. Set 'serving.kserve.io/gpu-resource-types' annotation to use "
    "custom gpu resource type"
)


REFUSED = [
    # --- replica counts: KServe's component.go, Knative's int32 bounds, minikn's platform cap
    (
        doc({"minReplicas": 2**31 - 1}),
        "spec.predictor.minReplicas",
        "2147483647: must be at most 100 (config-autoscaler max-scale-limit)",
        "min-replicas-int32-max",
    ),
    (
        doc({"minReplicas": 2**64}),
        "spec.predictor.minReplicas",
        "must be an integer in [0, 2147483647]",
        "min-replicas-2-to-the-64",
    ),
    (doc({"minReplicas": True}), "spec.predictor.minReplicas", "valid integer", "min-bool"),
    (doc({"minReplicas": "1"}), "spec.predictor.minReplicas", "valid integer", "min-string"),
    (doc({"maxReplicas": 2.0}), "spec.predictor.maxReplicas", "valid integer", "max-float"),
    (
        doc({"minReplicas": -1}),
        "spec.predictor.minReplicas",
        "'MinReplicas' cannot be less than 0",
        "min-negative",
    ),
    (
        doc({"maxReplicas": -1}),
        "spec.predictor.maxReplicas",
        "'MaxReplicas' cannot be less than 0",
        "max-negative",
    ),
    (
        doc({"maxReplicas": 101}),
        "spec.predictor.maxReplicas",
        "101: must be in [1, 100] (max-scale-limit)",
        "max-above-limit",
    ),
    (
        doc({"minReplicas": 3, "maxReplicas": 2}),
        "spec.predictor.minReplicas",
        "'MinReplicas' cannot be greater than MaxReplicas",
        "min-above-max",
    ),
    # --- scale target and metric: Knative's TargetMin, KServe's per-metric ranges
    (
        doc({"scaleTarget": 0}),
        "spec.predictor.scaleTarget",
        "0: must be at least 0.01",
        "target-zero",
    ),
    (
        doc({"scaleTarget": 0, "scaleMetric": "rps"}),
        "spec.predictor.scaleTarget",
        "the target for rps should be greater than 1",
        "rps-target-zero",
    ),
    (
        doc({"scaleTarget": 150, "scaleMetric": "cpu"}, meta={"annotations": HPA}),
        "spec.predictor.scaleTarget",
        "the target utilization percentage should be a [1-100] integer",
        "hpa-cpu-target-above-100",
    ),
    (
        doc({"scaleTarget": 0, "scaleMetric": "memory"}, meta={"annotations": HPA}),
        "spec.predictor.scaleTarget",
        "the target memory should be greater than 1 MiB",
        "hpa-memory-target-zero",
    ),
    (
        doc({"scaleMetric": "memory"}),
        "spec.predictor.scaleMetric",
        "[memory] is not a supported metric for class kpa.autoscaling.knative.dev",
        "memory-metric-with-kpa",
    ),
    (doc({"scaleTarget": False}), "spec.predictor.scaleTarget", "valid integer", "target-bool"),
    # --- containerConcurrency and timeout: Knative's config-defaults bounds, at the field
    (
        doc({"containerConcurrency": -1}),
        "spec.predictor.containerConcurrency",
        "parallelism cannot be less than 0",
        "cc-negative",
    ),
    (
        doc({"containerConcurrency": 1001}),
        "spec.predictor.containerConcurrency",
        "expected 0 <= 1001 <= 1000",
        "cc-above-limit",
    ),
    (
        doc({"containerConcurrency": True}),
        "spec.predictor.containerConcurrency",
        "valid integer",
        "cc-bool",
    ),
    (
        doc({"timeout": -1}),
        "spec.predictor.timeout",
        "expected 0 <= -1 <= 600",
        "timeout-negative",
    ),
    (
        doc({"canaryTrafficPercent": 101}),
        "spec.predictor.canaryTrafficPercent",
        "TrafficPercent must be between [0, 100]",
        "canary-above-100",
    ),
    (
        doc({"batcher": {"maxBatchSize": 2**40}}),
        "spec.predictor.batcher.maxBatchSize",
        "less than or equal to 2147483647",
        "batcher-size-above-int32",
    ),
    # --- autoscaling annotations on the revision the ISVC becomes
    (
        doc(meta={"annotations": {"autoscaling.knative.dev/initial-scale": "1000"}}),
        "spec.predictor.annotations",
        "autoscaling.knative.dev/initial-scale: 1000: must be at most 100",
        "initial-scale-above-limit",
    ),
    (
        doc({"annotations": {"autoscaling.knative.dev/activation-scale": "1"}}),
        "spec.predictor.annotations",
        "autoscaling.knative.dev/activation-scale: 1: must be at least 2",
        "activation-scale-one",
    ),
    # --- names and namespaces: KServe's ISVC regex, Kubernetes' DNS-1123 labels and lengths
    (
        doc(meta={"name": "a" * 5000}),
        "metadata.name",
        "must be no more than 63 characters",
        "name-5000-characters",
    ),
    (doc(meta={"name": "a" * 64}), "metadata.name", "no more than 63 characters", "name-64"),
    (
        doc(meta={"name": "1abc"}),
        "metadata.name",
        "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?'",
        "name-starts-with-digit",
    ),
    (
        doc(meta={"namespace": "../../etc"}),
        "metadata.namespace",
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters",
        "namespace-path-traversal",
    ),
    (
        doc(meta={"namespace": "Prod"}),
        "metadata.namespace",
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'",
        "namespace-upper-case",
    ),
    (
        doc(meta={"namespace": "n" * 64}),
        "metadata.namespace",
        "must be no more than 63 characters",
        "namespace-64",
    ),
    # --- kinds and KServe's predictor rules
    (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        "kind",
        "kind: ConfigMap is not supported (expected InferenceService, InferenceGraph, "
        "ClusterServingRuntime or "
        "ServingRuntime)",
        "configmap",
    ),
    (
        doc(meta={"annotations": {"serving.kserve.io/autoscalerClass": "kpa"}}),
        "metadata.annotations[serving.kserve.io/autoscalerClass]",
        "[kpa] is not a supported autoscaler class type",
        "kserve-autoscaler-class-unknown",
    ),
    (
        doc(sklearn(env=[{"name": "PYTHONPATH", "value": "/x"}])),
        "spec.predictor.sklearn.env",
        'setting PYTHONPATH in container "kserve-container" is not allowed for security reasons',
        "pythonpath-in-framework",
    ),
    (
        doc(spec={"transformer": {"containers": [{"name": "t", "image": "i", "env": PYPATH}]}}),
        "spec.transformer.containers[0].env",
        'the InferenceService "iris" is invalid: setting PYTHONPATH in container "t"',
        "pythonpath-in-transformer",
    ),
    (
        doc({"initContainers": [{"name": "init", "image": "i", "env": PYPATH}]}),
        "spec.predictor.initContainers[0].env",
        'setting PYTHONPATH in container "init"',
        "pythonpath-in-init-container",
    ),
    (
        doc(
            {
                "sklearn": None,
                "containers": [{"name": "p", "image": "i", "env": protocol_env("v3")}],
            }
        ),
        "spec.predictor.containers[0].env",
        "invalid protocol v3. Must be one of [v1, v2]",
        "custom-predictor-protocol-v3",
    ),
    (
        doc(sklearn(name="my-model")),
        "spec.predictor.sklearn.name",
        "the 'name' field is not allowed in standard predictor",
        "framework-name-set",
    ),
    (
        doc(
            {
                "sklearn": None,
                "containers": [
                    {"name": "kserve-container", "image": "me/p:1"},
                    {
                        "name": "transformer-container",
                        "image": "me/t:1",
                        "env": [{"name": "STORAGE_URI", "value": "gs://b/m"}],
                    },
                ],
            }
        ),
        "spec.predictor.containers[1].env",
        "storage uri should not be specified in transformer container",
        "collocated-transformer-storage-uri",
    ),
    # --- KServe's validateMultiNodeVariables (spec.predictor.workerSpec)
    (
        multinode({"containers": [WORKER, {**WORKER, "name": "second"}]}),
        "spec.predictor.workerSpec.containers",
        invalid("setting multiple containers in workerSpec is not allowed"),
        "multinode-two-worker-containers",
    ),
    (
        multinode(env=[{"name": "PIPELINE_PARALLEL_SIZE", "value": "2"}]),
        "spec.predictor.model.env",
        invalid("setting PIPELINE_PARALLEL_SIZE in environment variables is not allowed"),
        "multinode-pipeline-parallel-size-env",
    ),
    (
        multinode(env=[{"name": "TENSOR_PARALLEL_SIZE", "value": "2"}]),
        "spec.predictor.model.env",
        invalid("setting TENSOR_PARALLEL_SIZE in environment variables is not allowed"),
        "multinode-tensor-parallel-size-env",
    ),
    (
        multinode(resources={"limits": {"example.com/gpu": 1}}),
        "spec.predictor.model.resources",
        UNKNOWN_GPU,
        "multinode-unknown-gpu-type",
    ),
    (
        multinode(annotations={**NO_AUTOSCALER, GPU_TYPES: '"example.com/gpu"'}),
        f"metadata.annotations[{GPU_TYPES}]",
        f'invalid GPU format("example.com/gpu") for {GPU_TYPES} annotation: must be a valid '
        "JSON array",
        "multinode-gpu-types-not-a-json-array",
    ),
    (
        multinode(storageUri=None),
        "spec.predictor.model.storageUri",
        invalid("StorageURI must be set for multinode enabled"),
        "multinode-no-storage-uri",
    ),
    (
        multinode(storageUri="hf://meta-llama/Llama-3.1-8B"),
        "spec.predictor.model.storageUri",
        invalid("Multinode only supports 'pvc' and 'oci' Storage Protocol(hf)"),
        "multinode-hf-storage",
    ),
    (
        doc(
            {
                "sklearn": None,
                "huggingface": {"storageUri": "s3://b/m"},
                "workerSpec": {"containers": [WORKER]},
            },
            meta={"annotations": NO_AUTOSCALER},
        ),
        "spec.predictor.huggingface.storageUri",
        invalid("Multinode only supports 'pvc' and 'oci' Storage Protocol(s3)"),
        "multinode-legacy-framework-key-s3-storage",
    ),
    (
        multinode(annotations={"serving.kserve.io/autoscalerClass": "hpa"}),
        "metadata.annotations[serving.kserve.io/autoscalerClass]",
        invalid("Multinode only supports 'none' autoscaler(hpa)"),
        "multinode-hpa-autoscaler",
    ),
    (
        multinode(annotations={}),
        "metadata.annotations[serving.kserve.io/autoscalerClass]",
        invalid("Multinode only supports 'none' autoscaler()"),
        "multinode-no-autoscaler-class",
    ),
    (
        multinode({"pipelineParallelSize": 0}),
        "spec.predictor.workerSpec.pipelineParallelSize",
        invalid("WorkerSpec.PipelineParallelSize cannot be less than 1(0)"),
        "multinode-pipeline-parallel-size-0",
    ),
    (
        multinode({"tensorParallelSize": 0}),
        "spec.predictor.workerSpec.tensorParallelSize",
        invalid("WorkerSpec.TensorParallelSize cannot be less than 1(0)"),
        "multinode-tensor-parallel-size-0",
    ),
    (
        multinode({"tensorParallelSize": "2"}),
        "spec.predictor.workerSpec.tensorParallelSize",
        "valid integer",
        "multinode-tensor-parallel-size-string",
    ),
    (
        multinode({"containers": [{**WORKER, "resources": {"limits": {"example.com/gpu": 1}}}]}),
        "spec.predictor.workerSpec.containers[0].resources",
        UNKNOWN_GPU,
        "multinode-worker-unknown-gpu-type",
    ),
    (
        multinode({"containers": [{**WORKER, "env": PYPATH}]}),
        "spec.predictor.workerSpec.containers[0].env",
        invalid('setting PYTHONPATH in container "worker-container" is not allowed'),
        "multinode-pythonpath-in-worker",
    ),
    (
        multinode({"initContainers": [{"name": "init", "image": "i", "env": PYPATH}]}),
        "spec.predictor.workerSpec.initContainers[0].env",
        invalid('setting PYTHONPATH in container "init" is not allowed'),
        "multinode-pythonpath-in-worker-init-container",
    ),
]


@pytest.mark.parametrize(
    ("body", "path", "rule"), [pytest.param(b, p, r, id=i) for b, p, r, i in REFUSED]
)
def test_refused_with_field_path_and_rule(body: dict[str, Any], path: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_document(Document("bad.yaml", 0, body), Settings())
    lines = info.value.message.splitlines()
    assert any(f": {path}: " in line and rule in line for line in lines), lines


ACCEPTED = [
    (doc({"minReplicas": 100, "maxReplicas": 100}), "replicas-at-the-limit"),
    (doc({"minReplicas": 0, "maxReplicas": 0}), "scale-to-zero-no-max"),
    (doc({"scaleTarget": 1, "scaleMetric": "rps"}), "rps-target-one"),
    (doc({"scaleTarget": 100, "scaleMetric": "cpu"}, meta={"annotations": HPA}), "hpa-cpu-100"),
    (doc({"containerConcurrency": 0}), "cc-zero"),
    (doc({"containerConcurrency": 1000}), "cc-at-limit"),
    (doc({"timeout": 600}), "timeout-at-max"),
    (doc(meta={"name": "a" * 63, "namespace": "n" * 63}), "names-of-63"),
    (doc(meta={"namespace": "team-a"}), "plain-namespace"),
    (doc(sklearn(name="")), "framework-name-empty-as-the-sdk-sends"),
    (doc(meta={"annotations": {"serving.kserve.io/autoscalerClass": "hpa"}}), "kserve-class-hpa"),
    (doc(meta={"annotations": {"serving.kserve.io/autoscalerClass": "none"}}), "kserve-class-none"),
    (doc(sklearn(env=[{"name": "PYTHONPATHS", "value": "/x"}])), "env-near-pythonpath"),
    (
        doc(
            {
                "sklearn": None,
                "containers": [{"name": "p", "image": "i", "env": protocol_env("v2")}],
            }
        ),
        "custom-predictor-protocol-v2",
    ),
    (
        doc({"sklearn": None, "model": {"name": "", "modelFormat": {"name": "sklearn"}}}),
        "model-name-empty",
    ),
    (
        doc(meta={"annotations": {"autoscaling.knative.dev/max-scale": "0"}}),
        "user-max-scale-is-stripped-as-kserve-does",
    ),
    (
        doc(
            spec={
                "transformer": {
                    "containers": [
                        {
                            "name": "kserve-container",
                            "image": "me/t:1",
                            "env": [{"name": "STORAGE_URI", "value": "gs://b/m"}],
                        }
                    ]
                }
            }
        ),
        "transformer-storage-uri-as-kserve-docs",
    ),
    # --- workerSpec: the nearest values KServe admits
    (multinode(), "multinode-pvc-none-autoscaler-one-worker-container"),
    (doc(sklearn(env=[{"name": "PIPELINE_PARALLEL_SIZE", "value": "2"}])), "pps-env-single-node"),
    (doc(sklearn(env=[{"name": "TENSOR_PARALLEL_SIZE", "value": "2"}])), "tps-env-single-node"),
    (
        multinode(
            annotations={**NO_AUTOSCALER, GPU_TYPES: '["example.com/gpu"]'},
            resources={"limits": {"example.com/gpu": 1, "nvidia.com/gpu": 1, "cpu": "4"}},
        ),
        "multinode-gpu-type-named-by-annotation",
    ),
    (multinode(storageUri="oci://registry.example.com/llama:1"), "multinode-oci-storage"),
    (multinode({"pipelineParallelSize": 1, "tensorParallelSize": 1}), "multinode-sizes-of-one"),
    (
        multinode({"containers": [{**WORKER, "resources": {"limits": {"nvidia.com/gpu": 1}}}]}),
        "multinode-worker-nvidia-gpu",
    ),
    (
        multinode({"containers": [{**WORKER, "env": [{"name": "PYTHONPATHS", "value": "/x"}]}]}),
        "multinode-worker-env-near-pythonpath",
    ),
    (
        doc(
            {
                "sklearn": None,
                "containers": [{"name": "kserve-container", "image": "me/llm:1"}],
                "workerSpec": {"containers": [WORKER]},
            }
        ),
        "multinode-custom-container-has-no-model-rules",
    ),
]


@pytest.mark.parametrize(("body"), [pytest.param(b, id=i) for b, i in ACCEPTED])
def test_nearest_valid_value_is_accepted(body: dict[str, Any]) -> None:
    parse_document(Document("ok.yaml", 0, body), Settings())


def test_every_error_of_a_document_is_listed() -> None:
    body = doc(
        {"containerConcurrency": -1, "maxReplicas": 500},
        meta={"name": "Bad", "namespace": "../x"},
    )
    with pytest.raises(InvalidInput) as info:
        parse_document(Document("bad.yaml", 0, body), Settings())
    paths = [line.split(": ")[1] for line in info.value.message.splitlines()]
    assert paths == [
        "metadata.name",
        "metadata.namespace",
        "spec.predictor.containerConcurrency",
        "spec.predictor.maxReplicas",
    ]


def test_without_a_platform_cap_knative_int32_bound_still_holds() -> None:
    settings = Settings.model_validate({"config-autoscaler": {"max-scale-limit": 0}})
    parse_document(Document("ok.yaml", 0, doc({"minReplicas": 2**31 - 1})), settings)
    with pytest.raises(InvalidInput, match=r"minReplicas: 2147483648: must be an integer in"):
        parse_document(Document("bad.yaml", 0, doc({"minReplicas": 2**31})), settings)
