"""Relative local storageUris resolve against the YAML file's directory; others are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikn.api.documents import Document, parse_text
from minikn.api.storage_paths import resolve_storage_paths, resolve_uri

BASE = Path("/srv/manifests")


@pytest.mark.parametrize(
    ("uri", "resolved"),
    [
        ("file://./models/iris", "file:///srv/manifests/models/iris"),
        ("file://models/iris", "file:///srv/manifests/models/iris"),
        ("file://../models/iris", "file:///srv/models/iris"),
        ("./models/iris", "file:///srv/manifests/models/iris"),
        ("../models/iris", "file:///srv/models/iris"),
        ("file:///abs/iris", "file:///abs/iris"),
        ("file://~/iris", "file://~/iris"),
        ("/abs/iris", "/abs/iris"),
        ("models/iris", "models/iris"),
        ("s3://bucket/iris", "s3://bucket/iris"),
        ("gs://bucket/iris", "gs://bucket/iris"),
        ("pvc://claim/iris", "pvc://claim/iris"),
        ("https://example.com/iris.tar.gz", "https://example.com/iris.tar.gz"),
    ],
)
def test_resolve_uri(uri: str, resolved: str) -> None:
    assert resolve_uri(uri, BASE) == resolved


V1ALPHA2 = """\
apiVersion: serving.kubeflow.org/v1alpha2
kind: InferenceService
metadata: {name: legacy}
spec:
  default: {predictor: {sklearn: {storageUri: file://./a}}}
  canary: {predictor: {xgboost: {storageUri: file://./b}}}
"""


def test_every_storage_uri_of_a_file_resolves_against_its_directory() -> None:
    [doc] = resolve_storage_paths(parse_text(V1ALPHA2, "/srv/manifests/legacy.yaml"))
    spec = doc.body["spec"]
    assert spec["default"]["predictor"]["sklearn"]["storageUri"] == "file:///srv/manifests/a"
    assert spec["canary"]["predictor"]["xgboost"]["storageUri"] == "file:///srv/manifests/b"


def test_documents_without_a_file_keep_their_uris() -> None:
    docs = [*parse_text(V1ALPHA2, "<stdin>"), Document("x.yaml", 0, None, error="invalid YAML")]
    assert resolve_storage_paths(docs) == docs
