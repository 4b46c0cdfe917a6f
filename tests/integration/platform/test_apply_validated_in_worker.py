"""An apply body parsed (and validated) in the API's worker process gives the same results, the
same refusals and the same stored state as one handled on the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from minikn.api.validate import parse_document
from minikn.config import Settings
from minikn.controlplane import controller
from minikn.testing.manifests import caffe_runtime

from .conftest import start_api

APPLY = "/api/v1/apply"
YAML = {"Content-Type": "application/yaml"}
RUNTIME = caffe_runtime()


def _isvc(name: str, predictor: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, **meta},
        "spec": {"predictor": predictor},
    }


IRIS_1 = _isvc("iris", {"sklearn": {"storageUri": "gs://b/1"}})
IRIS_2 = _isvc(
    "iris",
    {"sklearn": {"storageUri": "gs://b/2"}, "canaryTrafficPercent": 20},
    annotations={"autoscaling.knative.dev/target": "5"},
)
CAFFE = _isvc("caffe", {"model": {"modelFormat": {"name": "caffe"}, "storageUri": "gs://c/1"}})
BAD = _isvc(
    "bad",
    {"minReplicas": True, "sklearn": {"storageUri": "gs://b/1", "bogus": 1}},
    annotations={"autoscaling.knative.dev/target": "-3"},
)
GRAPH = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "InferenceGraph",
    "metadata": {"name": "ab"},
    "spec": {"nodes": {"root": {"routerType": "Splitter", "steps": [
        {"serviceName": "iris", "weight": 50}, {"serviceName": "caffe", "weight": 50}]}}},
}  # fmt: skip
BAD_ANNOTATION = _isvc(
    "bad2",
    {"sklearn": {"storageUri": "gs://b/1"}},
    annotations={"autoscaling.knative.dev/target": "-3"},
)
BODIES: list[list[dict[str, Any]]] = [
    [IRIS_1],
    [IRIS_1],  # unchanged
    [IRIS_2],  # a new revision, a canary split, an annotation
    [IRIS_1, BAD, BAD_ANNOTATION],  # refused whole: iris stays at its second spec
    [{"kind": "InferenceService", "metadata": {"name": "x"}}, {"apiVersion": "v1", "kind": "Pod"}],
    [RUNTIME, CAFFE],  # a runtime and an ISVC that needs it, in one body
    [_isvc("iris", {"sklearn": {"storageUri": "gs://b/2"}})],  # back to the same spec: reused
    [GRAPH],
]


async def _replies(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[Any], int]:
    """The replies to :data:`BODIES`, the ISVCs and revisions stored, and how many documents the
    controller validated itself."""
    on_loop = 0

    def counted(*args: Any) -> Any:
        nonlocal on_loop
        on_loop += 1
        return parse_document(*args)

    monkeypatch.setattr(controller, "parse_document", counted)
    ctl, runner, url = await start_api(tmp_path, settings=settings)
    replies = []
    try:
        async with aiohttp.ClientSession() as s:
            for docs in BODIES:
                async with s.post(url + APPLY, data=yaml.safe_dump_all(docs), headers=YAML) as r:
                    replies.append((r.status, await r.json()))
        stored = [
            (i, [r.name for r in ctl.revisions("default", i["metadata"]["name"])])
            for i in ctl.list_isvcs()
        ]
    finally:
        await runner.cleanup()
        await ctl.close()
    return replies, stored, on_loop


async def test_a_body_validated_in_the_worker_applies_and_is_refused_as_one_validated_on_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_worker = Settings.model_validate({"minikn": {"api": {"parseInProcessBytes": 1}}})
    worker_replies, worker_state, worker_on_loop = await _replies(
        tmp_path / "worker", in_worker, monkeypatch
    )
    loop_replies, loop_state, loop_on_loop = await _replies(
        tmp_path / "loop", Settings(), monkeypatch
    )
    assert worker_replies == loop_replies
    assert worker_state == loop_state
    assert (worker_on_loop, loop_on_loop) == (0, 11)
    statuses = [status for status, _ in worker_replies]
    assert statuses == [200, 200, 200, 400, 400, 200, 200, 200]
    refusal = worker_replies[3][1]["message"]
    assert "spec.predictor.minReplicas" in refusal
    assert "spec.predictor.sklearn.bogus: unknown field" in refusal
    assert "autoscaling.knative.dev/target" in refusal
    assert [r["action"] for r in worker_replies[1][1]["results"]] == ["unchanged"]
