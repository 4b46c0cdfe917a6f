"""Resolving an ISVC target: its YAML, protocol, Host header and example input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from minikn.core.errors import InvalidInput
from minikn.loadtest.target import (
    IsvcInfo,
    example_body,
    find_example_input,
    find_isvc_yaml,
    isvc_from_doc,
    model_path,
    resolve_host,
)

_V1 = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: sklearn-iris
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: file://models/iris
"""
_V2 = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris-v2
  namespace: ml
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      protocolVersion: v2
"""


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    (tmp_path / "sklearn-iris.yaml").write_text(_V1)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "v2.yaml").write_text("---\nkind: ConfigMap\n---\n" + _V2)
    (tmp_path / "iris-input.json").write_text(json.dumps({"instances": [[1, 2, 3, 4]]}))
    (tmp_path / "nested" / "iris-v2-input.json").write_text(json.dumps({"inputs": []}))
    return tmp_path


def test_finds_isvc_by_name_and_namespace(examples: Path) -> None:
    info = find_isvc_yaml("iris-v2", namespace="ml", examples_dir=examples)
    assert info is not None
    assert (info.name, info.namespace, info.protocol) == ("iris-v2", "ml", "v2")
    assert find_isvc_yaml("iris-v2", namespace="default", examples_dir=examples) is None
    assert find_isvc_yaml("nope", namespace="default", examples_dir=examples) is None
    assert find_isvc_yaml("x", namespace="default", examples_dir=examples / "missing") is None


def test_the_file_named_after_the_isvc_wins(examples: Path) -> None:
    (examples / "a-canary.yaml").write_text(_V1)  # sorts first, same ISVC name
    info = find_isvc_yaml("sklearn-iris", namespace="default", examples_dir=examples)
    assert info is not None
    assert info.source == examples / "sklearn-iris.yaml"


def test_finds_isvc_by_yaml_path(examples: Path) -> None:
    info = find_isvc_yaml(
        str(examples / "sklearn-iris.yaml"), namespace="default", examples_dir=None
    )
    assert info is not None
    assert (info.name, info.protocol) == ("sklearn-iris", "v1")


def test_yaml_path_without_isvc_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("kind: ConfigMap\n")
    with pytest.raises(InvalidInput, match="no InferenceService"):
        find_isvc_yaml(str(path), namespace="default", examples_dir=None)


def test_example_input_matches_the_protocol(examples: Path) -> None:
    v1 = find_isvc_yaml("sklearn-iris", namespace="default", examples_dir=examples)
    v2 = find_isvc_yaml("iris-v2", namespace="ml", examples_dir=examples)
    assert v1 is not None
    assert v2 is not None
    assert find_example_input(v1) == examples / "iris-input.json"
    assert find_example_input(v2) == examples / "nested" / "iris-v2-input.json"
    assert find_example_input(IsvcInfo("x", "default", "v1")) is None


def test_example_input_ambiguous_is_none(examples: Path) -> None:
    (examples / "other-input.json").write_text(json.dumps({"instances": [[0]]}))
    info = find_isvc_yaml("sklearn-iris", namespace="default", examples_dir=examples)
    assert info is not None
    assert find_example_input(info) is None


def test_host_from_status_url_or_template() -> None:
    info = IsvcInfo("iris", "ml", "v1")
    assert resolve_host(info, "example.com") == "iris.ml.example.com"
    with_url = isvc_from_doc(
        {
            "kind": "InferenceService",
            "metadata": {"name": "iris"},
            "status": {"url": "http://iris.default.local.dev"},
        }
    )
    assert with_url is not None
    assert resolve_host(with_url, "example.com") == "iris.default.local.dev"


def test_isvc_from_doc_ignores_other_kinds() -> None:
    assert isvc_from_doc({"kind": "Service", "metadata": {"name": "x"}}) is None
    assert isvc_from_doc({"kind": "InferenceService", "metadata": {}}) is None
    assert isvc_from_doc("text") is None


def test_model_paths() -> None:
    assert model_path("iris", "v1") == "/v1/models/iris:predict"
    assert model_path("iris", "v2") == "/v2/models/iris/infer"


def test_example_input_annotation_wins_over_files(examples: Path) -> None:
    (examples / "annotated.yaml").write_text(
        _V1.replace("sklearn-iris", "annotated").replace(
            "metadata:\n",
            "metadata:\n  annotations:\n    minikn.io/example-input: '{\"instances\": [[9]]}'\n",
        )
    )
    info = find_isvc_yaml("annotated", namespace="default", examples_dir=examples)
    assert info is not None
    assert example_body(info) == b'{"instances": [[9]]}'
    plain = find_isvc_yaml("sklearn-iris", namespace="default", examples_dir=examples)
    assert plain is not None
    assert example_body(plain) == (examples / "iris-input.json").read_bytes()
    assert example_body(IsvcInfo("x", "default", "v1")) is None


@pytest.mark.parametrize(
    ("name", "protocol", "key"),
    [("sklearn-iris", "v1", "instances"), ("sklearn-iris-v2", "v2", "inputs")],
)
def test_shipped_examples_resolve_with_their_input(name: str, protocol: str, key: str) -> None:
    examples = Path(__file__).resolve().parents[3] / "config" / "examples"
    info = find_isvc_yaml(name, namespace="default", examples_dir=examples)
    assert info is not None
    assert info.protocol == protocol
    body = example_body(info)
    assert body is not None
    assert key in json.loads(body)
