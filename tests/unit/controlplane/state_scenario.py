"""A control-plane history that touches every persisted field, and the views it leaves.

``fixtures/state-v1/`` was written by running :func:`play` with the code of commit aa07def (state
format version 1, before persisted state dropped what can be derived): ``state.json`` is what that
code saved, ``views.json`` is :func:`views` of the controller that saved it. The persistence tests
load that file with today's code and compare against both.
"""

from __future__ import annotations

import json
from typing import Any

from minikn.controlplane.controller import Controller
from minikn.core.clock import FakeClock
from minikn.testing.manifests import caffe_runtime, docs_of, isvc_doc

ISVCS = [("default", "iris"), ("default", "legacy"), ("default", "broken"), ("team-a", "caffe")]

_CAFFE_RUNTIME = caffe_runtime()


def iris_doc(uri: str, **predictor: Any) -> dict[str, Any]:
    doc = isvc_doc("iris", sklearn={"storageUri": uri}, **predictor)
    doc["metadata"]["annotations"] = {"serving.kserve.io/enable-tag-routing": "true"}
    doc["spec"]["transformer"] = {"containers": [{"image": "me/transformer:1"}]}
    return doc


def legacy_doc() -> dict[str, Any]:
    return {
        "apiVersion": "serving.kubeflow.org/v1alpha2",
        "kind": "InferenceService",
        "metadata": {"name": "legacy"},
        "spec": {
            "default": {"predictor": {"sklearn": {"storageUri": "gs://b/1"}}},
            "canary": {"predictor": {"sklearn": {"storageUri": "gs://b/2"}}},
            "canaryTrafficPercent": 20,
        },
    }


def _caffe() -> dict[str, Any]:
    doc = isvc_doc(model={"modelFormat": {"name": "caffe"}, "storageUri": "gs://b/c"})
    doc["metadata"] = {"name": "caffe", "namespace": "team-a", "labels": {"team": "a"}}
    return doc


async def play(ctl: Controller, clock: FakeClock) -> None:
    """Two iris rollouts with a transformer and tag routing, a v1alpha2 canary, a missing
    runtime, a user runtime in another namespace, a failure, and a metadata-only change."""
    await ctl.apply(docs_of(_CAFFE_RUNTIME, iris_doc("gs://b/1")))
    await clock.advance(10)
    ctl.revision_ready("iris-predictor-00001")
    ctl.revision_ready("iris-transformer-00001")
    await clock.advance(10)
    await ctl.apply(docs_of(iris_doc("gs://b/2", canaryTrafficPercent=10)))
    await clock.advance(10)
    ctl.revision_ready("iris-predictor-00002")
    await clock.advance(10)
    await ctl.apply(docs_of(legacy_doc()))
    ctl.revision_ready("legacy-predictor-00001")
    await clock.advance(10)
    broken = isvc_doc("broken", model={"modelFormat": {"name": "onnxx"}, "storageUri": "gs://b/o"})
    await ctl.apply(docs_of(broken))
    await clock.advance(10)
    await ctl.apply(docs_of(_caffe()))
    ctl.revision_failed("caffe-predictor-00001", "InsufficientGPU", "needs 1 GPU, 0 free")
    await clock.advance(10)
    relabelled = _caffe()
    relabelled["metadata"]["labels"] = {"team": "b"}
    await ctl.apply(docs_of(relabelled))
    await clock.advance(10)


def views(ctl: Controller) -> dict[str, Any]:
    """Everything the controller shows of its state, as JSON values."""
    live, routable = ctl.live()
    out = {
        "isvcs": {f"{ns}/{n}": ctl.get(ns, n) for ns, n in ISVCS},
        "revisions": {f"{ns}/{n}": ctl.revision_states(ns, n) for ns, n in ISVCS},
        "specs": {
            f"{ns}/{n}": [r.model_dump(mode="json") for r in ctl.revisions(ns, n)]
            for ns, n in ISVCS
        },
        "live": [r.name for r in live],
        "routable": sorted(routable),
        "routes": ctl.route_table().model_dump(mode="json"),
        "list": ctl.list_isvcs(),
    }
    result: dict[str, Any] = json.loads(json.dumps(out, sort_keys=True))
    return result
