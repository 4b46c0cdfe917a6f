"""Runtime selection (KServe's algorithm) over the shipped runtimes and small tables."""

from __future__ import annotations

from typing import Any

import pytest

from minikn.api.runtimes import (
    NoSupportingRuntime,
    RuntimeDisabled,
    RuntimeNotRecognized,
    RuntimeRegistry,
    default_registry,
    render_container,
)
from minikn.core.errors import InvalidInput


def runtime_doc(
    name: str,
    formats: list[dict[str, Any]],
    protocols: list[str] | None = None,
    *,
    image: str = "img:1",
    kind: str = "ClusterServingRuntime",
    namespace: str | None = None,
    created: str | None = None,
    disabled: bool = False,
    args: list[str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if created:
        meta["creationTimestamp"] = created
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": kind,
        "metadata": meta,
        "spec": {
            "supportedModelFormats": formats,
            "protocolVersions": protocols if protocols is not None else ["v1"],
            "disabled": disabled,
            "containers": [{"name": "kserve-container", "image": image, "args": args or []}],
        },
    }


@pytest.mark.parametrize(
    ("fmt", "version", "protocol", "expected"),
    [
        ("sklearn", None, "v1", "minikn-sklearnserver"),
        ("sklearn", None, "v2", "minikn-sklearnserver"),
        ("sklearn", "1", "v1", "minikn-sklearnserver"),
        ("xgboost", None, "v1", "minikn-xgbserver"),
        ("xgboost", "2", "v2", "minikn-xgbserver"),
        ("lightgbm", None, "v2", "minikn-lgbserver"),
        ("tensorflow", None, "v1", "kserve-tensorflow-serving"),
        ("tensorflow", None, "v2", "kserve-tritonserver"),
        ("pytorch", None, "v1", "kserve-torchserve"),
        ("pytorch", None, "v2", "kserve-torchserve"),
        ("onnx", None, "v2", "kserve-tritonserver"),
        ("triton", None, "v2", "kserve-tritonserver"),
        ("huggingface", None, "v1", "kserve-huggingfaceserver"),
    ],
)
def test_shipped_runtimes_auto_select_as_kserve(
    fmt: str, version: str | None, protocol: str, expected: str
) -> None:
    chosen = default_registry().select(
        model_format=fmt, version=version, protocol=protocol, runtime=None
    )
    assert chosen.name == expected


@pytest.mark.parametrize(
    ("fmt", "version", "protocol"),
    [
        ("onnx", None, "v1"),
        ("sklearn", "1.3", "v1"),
        ("mlflow", None, "v1"),
        ("sklearn", None, "grpc-v1"),
    ],
)
def test_no_match_names_format_and_protocol(fmt: str, version: str | None, protocol: str) -> None:
    with pytest.raises(NoSupportingRuntime) as info:
        default_registry().select(
            model_format=fmt, version=version, protocol=protocol, runtime=None
        )
    assert info.value.reason == "NoSupportingRuntime"
    assert fmt in info.value.message
    assert protocol in info.value.message


def test_builtin_flag_marks_minikn_image() -> None:
    registry = default_registry()
    assert registry.get("minikn-sklearnserver").builtin  # type: ignore[union-attr]
    assert not registry.get("kserve-tritonserver").builtin  # type: ignore[union-attr]
    assert set(registry.get("minikn-lgbserver").protocol_versions) == {"v1", "v2", "grpc-v2"}  # type: ignore[union-attr]


def test_explicit_runtime_ignores_auto_select() -> None:
    # Triton's pytorch entry is not autoSelect, but an explicit runtime may still use it.
    chosen = default_registry().select(
        model_format="pytorch", version=None, protocol="v2", runtime="kserve-tritonserver"
    )
    assert chosen.name == "kserve-tritonserver"


@pytest.mark.parametrize(
    ("runtime", "protocol", "error", "reason"),
    [
        ("nope", "v1", RuntimeNotRecognized, "RuntimeNotRecognized"),
        ("kserve-tritonserver", "v1", NoSupportingRuntime, "NoSupportingRuntime"),
        ("minikn-xgbserver", "v1", NoSupportingRuntime, "NoSupportingRuntime"),
        ("off", "v1", RuntimeDisabled, "RuntimeDisabled"),
    ],
)
def test_explicit_runtime_errors(
    runtime: str, protocol: str, error: type[Exception], reason: str
) -> None:
    registry = default_registry()
    registry.add(runtime_doc("off", [{"name": "sklearn"}], disabled=True))
    with pytest.raises(error) as info:
        registry.select(model_format="sklearn", version=None, protocol=protocol, runtime=runtime)
    assert info.value.reason == reason  # type: ignore[attr-defined]


def test_priority_beats_protocol_order_and_none() -> None:
    registry = RuntimeRegistry()
    registry.add(runtime_doc("a-none", [{"name": "f", "autoSelect": True}]))
    registry.add(runtime_doc("b-low", [{"name": "f", "autoSelect": True, "priority": 1}]))
    registry.add(
        runtime_doc("c-high", [{"name": "f", "autoSelect": True, "priority": 5}], ["v2", "v1"])
    )
    assert (
        registry.select(model_format="f", version=None, protocol="v1", runtime=None).name
        == "c-high"
    )


def test_ties_prefer_lowest_protocol_then_newest_then_name() -> None:
    registry = RuntimeRegistry()
    fmt = [{"name": "f", "autoSelect": True, "priority": 1}]
    registry.add(runtime_doc("v2-only", fmt, ["v2"], created="2030-01-01T00:00:00Z"))
    registry.add(runtime_doc("z-old", fmt, ["v1", "v2"], created="2020-01-01T00:00:00Z"))
    registry.add(runtime_doc("y-new", fmt, ["v1", "v2"], created="2024-01-01T00:00:00Z"))
    registry.add(runtime_doc("x-new", fmt, ["v1", "v2"], created="2024-01-01T00:00:00Z"))
    assert (
        registry.select(model_format="f", version=None, protocol="v2", runtime=None).name == "x-new"
    )


def test_namespaced_runtimes_come_first_in_their_namespace() -> None:
    registry = RuntimeRegistry()
    registry.add(runtime_doc("cluster", [{"name": "f", "autoSelect": True, "priority": 9}]))
    registry.add(
        runtime_doc(
            "local", [{"name": "f", "autoSelect": True}], kind="ServingRuntime", namespace="team"
        )
    )
    pick = registry.select
    assert (
        pick(model_format="f", version=None, protocol="v1", runtime=None, namespace="team").name
        == "local"
    )
    assert (
        pick(model_format="f", version=None, protocol="v1", runtime=None, namespace="other").name
        == "cluster"
    )


def test_empty_protocol_list_supports_every_protocol() -> None:
    registry = RuntimeRegistry()
    registry.add(runtime_doc("any", [{"name": "f", "autoSelect": True}], []))
    assert (
        registry.select(model_format="f", version=None, protocol="grpc-v2", runtime=None).name
        == "any"
    )


@pytest.mark.parametrize(
    ("doc_update", "message"),
    [
        ({"kind": "Deployment"}, "kind"),
        ({"apiVersion": "v1"}, "apiVersion"),
        ({"metadata": {}}, "metadata.name"),
        ({"spec": {"containers": []}}, "containers"),
        ({"spec": {"containers": [{"name": "kserve-container"}]}}, "image"),
        ({"spec": {"containers": [{"image": "x"}], "protocolVersions": ["v3"]}}, "v3"),
        ({"spec": {"containers": [{"image": "x"}], "supportedModelFormats": [{}]}}, "name"),
        (
            {
                "spec": {
                    "containers": [{"image": "x"}],
                    "supportedModelFormats": [{"name": "f", "priority": 0}],
                }
            },
            "priority",
        ),
    ],
)
def test_bad_runtime_documents_are_invalid_input(doc_update: dict[str, Any], message: str) -> None:
    doc = {**runtime_doc("r", [{"name": "f"}]), **doc_update}
    with pytest.raises(InvalidInput, match=message):
        RuntimeRegistry().add(doc)


def test_render_merges_isvc_fields_over_runtime() -> None:
    registry = default_registry()
    runtime = registry.get("minikn-sklearnserver")
    assert runtime is not None
    spec = render_container(
        runtime,
        isvc="iris",
        namespace="default",
        overrides={
            "args": ["--workers=2"],
            "env": [{"name": "PREDICT_PROBA", "value": "true"}],
            "resources": {"limits": {"cpu": "2"}},
        },
    )
    assert spec.image == "minikn/modelserver:latest"
    assert spec.args == (
        "--model_name=iris",
        "--model_dir=/mnt/models",
        "--http_port=8080",
        "--model_format=sklearn",
        "--workers=2",
    )
    assert spec.env == (("PREDICT_PROBA", "true"),)
    assert spec.resources.cpu == 2.0
    assert spec.resources.memory == 2 * 2**30
    assert spec.port == 8080


@pytest.mark.parametrize(
    ("runtime", "overrides", "image"),
    [
        ("kserve-tensorflow-serving", {"runtimeVersion": "2.14.1"}, "tensorflow/serving:2.14.1"),
        (
            "kserve-tensorflow-serving",
            {"resources": {"limits": {"nvidia.com/gpu": 1}}},
            "tensorflow/serving:2.6.2-gpu",
        ),
        (
            "kserve-tritonserver",
            {"resources": {"limits": {"nvidia.com/gpu": 1}}},
            "nvcr.io/nvidia/tritonserver:23.05-py3",
        ),
        ("minikn-sklearnserver", {"image": "me/custom:2"}, "me/custom:2"),
    ],
)
def test_render_adjusts_image_tag(runtime: str, overrides: dict[str, Any], image: str) -> None:
    rt = default_registry().get(runtime)
    assert rt is not None
    assert render_container(rt, isvc="m", namespace="ns", overrides=overrides).image == image


def test_render_fills_torchserve_envelope_from_protocol() -> None:
    rt = default_registry().get("kserve-torchserve")
    assert rt is not None
    v1 = render_container(rt, isvc="m", namespace="ns", overrides={})
    v2 = render_container(rt, isvc="m", namespace="ns", overrides={}, protocol="v2")
    assert dict(v1.env)["TS_SERVICE_ENVELOPE"] == "kserve"
    assert dict(v2.env)["TS_SERVICE_ENVELOPE"] == "kservev2"


def test_render_templates_namespace_and_annotations() -> None:
    registry = RuntimeRegistry()
    rt = registry.add(
        runtime_doc(
            "t",
            [{"name": "f"}],
            args=["--ns={{.Namespace}}", "--fw={{ .Annotations.modelFormat }}"],
        )
    )
    spec = render_container(
        rt, isvc="m", namespace="team", overrides={}, annotations={"modelFormat": "f"}
    )
    assert spec.args == ("--ns=team", "--fw=f")


def test_load_reports_the_bad_file(tmp_path: Any) -> None:
    (tmp_path / "bad.yaml").write_text("kind: ClusterServingRuntime\napiVersion: x\n")
    with pytest.raises(InvalidInput, match=r"bad\.yaml"):
        RuntimeRegistry.load(tmp_path)
