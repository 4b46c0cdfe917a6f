"""Documents validated in the parse worker come back (through pickle) as the controller would
have validated them: the same parsed results, revision hashes and refusals."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from minikn.api.validate import ParsedIsvc, parse_document
from minikn.config import Settings
from minikn.controlplane.prevalidate import prevalidate
from minikn.controlplane.revisions import component_hash
from minikn.core.errors import InvalidInput
from minikn.testing.manifests import docs_of, isvc_doc

V1ALPHA2: dict[str, Any] = {
    "apiVersion": "serving.kubeflow.org/v1alpha2",
    "kind": "InferenceService",
    "metadata": {"name": "flowers", "annotations": {"autoscaling.knative.dev/target": "3"}},
    "spec": {
        "default": {"predictor": {"tensorflow": {"storageUri": "gs://f/1"}}},
        "canary": {"predictor": {"tensorflow": {"storageUri": "gs://f/2"}}},
        "canaryTrafficPercent": 10,
    },
}


def test_prevalidated_isvcs_survive_pickle_equal_to_parse_document_with_their_hashes() -> None:
    settings = Settings()
    docs = docs_of(isvc_doc(), V1ALPHA2)
    back = pickle.loads(pickle.dumps(prevalidate(docs, settings)))
    for doc, done in zip(docs, back, strict=True):
        want = parse_document(doc, settings)
        assert isinstance(done, ParsedIsvc)
        assert isinstance(want, ParsedIsvc)
        assert (done.name, done.namespace, done.doc) == (want.name, want.namespace, want.doc)
        assert done.components.keys() == want.components.keys()
        for name, intent in done.components.items():
            expected = want.components[name]
            assert (intent.spec, intent.stable) == (expected.spec, expected.stable)
            assert intent.spec_hash == component_hash(expected.spec, want.annotations)
            if expected.stable is not None:
                assert intent.stable_hash == component_hash(expected.stable, want.annotations)
    flowers = back[1]
    assert isinstance(flowers, ParsedIsvc)
    assert flowers.components["predictor"].stable_hash is not None


def test_a_refused_document_comes_back_as_its_invalid_input() -> None:
    settings = Settings()
    bad = isvc_doc(minReplicas=True, sklearn={"storageUri": "gs://b/1", "bogus": 1})
    docs = docs_of(bad, {"kind": "Pod", "metadata": {"name": "p"}})
    back = pickle.loads(pickle.dumps(prevalidate(docs, settings)))
    for doc, done in zip(docs, back, strict=True):
        with pytest.raises(InvalidInput) as want:
            parse_document(doc, settings)
        assert isinstance(done, InvalidInput)
        assert (done.message, done.reason) == (want.value.message, want.value.reason)
    first = back[0]
    assert isinstance(first, InvalidInput)
    assert "spec.predictor.sklearn.bogus: unknown field" in first.message
