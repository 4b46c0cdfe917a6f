"""ISVC manifests for tests: a minimal v1beta1 document and parsed ``Document`` lists."""

from __future__ import annotations

from typing import Any

import yaml

from minikn.api.documents import Document, parse_text

__all__ = ["docs_of", "isvc_doc"]


def isvc_doc(name: str = "iris", **predictor: Any) -> dict[str, Any]:
    """A v1beta1 InferenceService; the predictor defaults to sklearn at ``gs://bucket/model``."""
    pred = predictor or {"sklearn": {"storageUri": "gs://bucket/model"}}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": pred},
    }


def docs_of(*bodies: dict[str, Any], source: str = "test.yaml") -> list[Document]:
    """``bodies`` as the documents of one multi-document YAML file named ``source``."""
    return parse_text(yaml.safe_dump_all(bodies), source)


def caffe_runtime() -> dict[str, Any]:
    """A ClusterServingRuntime ``caffe-rt`` serving model format ``caffe`` (KServe V1) from image
    ``me/caffe:1``: a runtime no built-in one covers."""
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": "caffe-rt"},
        "spec": {
            "supportedModelFormats": [{"name": "caffe", "autoSelect": True}],
            "protocolVersions": ["v1"],
            "containers": [{"name": "kserve-container", "image": "me/caffe:1"}],
        },
    }
