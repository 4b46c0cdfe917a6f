"""Revisions, traffic and status through the controller, driven by simulated replica reports."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from minikn.controlplane.controller import Controller
from minikn.core.errors import Conflict, InvalidInput, NotFound
from minikn.testing.manifests import caffe_runtime, docs_of, isvc_doc

from .conftest import RecordingListener

P1, P2, P3 = "iris-predictor-00001", "iris-predictor-00002", "iris-predictor-00003"


def _traffic(
    ctl: Controller, component: str = "predictor", name: str = "iris"
) -> list[tuple[str, int, str | None]]:
    comp = ctl.get("default", name)["status"]["components"][component]
    return [(t["revisionName"], t["percent"], t.get("tag")) for t in comp["traffic"]]


def _comp(ctl: Controller, name: str = "iris") -> dict[str, Any]:
    comp: dict[str, Any] = ctl.get("default", name)["status"]["components"]["predictor"]
    return comp


def _cond(ctl: Controller, ctype: str, name: str = "iris") -> dict[str, Any]:
    conds = ctl.get("default", name)["status"]["conditions"]
    found: dict[str, Any] = next(c for c in conds if c["type"] == ctype)
    return found


def _v(uri: str, **extra: Any) -> dict[str, Any]:
    return isvc_doc(sklearn={"storageUri": uri}, **extra)


async def test_first_apply_creates_revision_00001_and_routes_once_ready(
    controller: Controller,
) -> None:
    [result] = await controller.apply(docs_of(_v("gs://b/1")))
    assert (result.action, result.revisions) == ("created", [P1])
    assert _traffic(controller) == []
    assert _cond(controller, "Ready")["status"] == "Unknown"
    controller.revision_ready(P1)
    assert _traffic(controller) == [(P1, 100, None)]
    assert _comp(controller)["latestRolledoutRevision"] == P1
    assert _cond(controller, "PredictorReady")["status"] == "True"
    assert _cond(controller, "Ready")["status"] == "True"


@pytest.mark.parametrize(
    ("change", "new_revision"),
    [
        pytest.param(lambda d: d, False, id="unchanged"),
        pytest.param(
            lambda d: d["metadata"].update(labels={"team": "a"}), False, id="metadata-label"
        ),
        pytest.param(
            lambda d: d["metadata"].update(annotations={"note": "x"}),
            False,
            id="metadata-annotation",
        ),
        pytest.param(
            lambda d: d["spec"]["predictor"].update(canaryTrafficPercent=10),
            False,
            id="canary-percent",
        ),
        pytest.param(
            lambda d: d["spec"]["predictor"].update(minReplicas=2), True, id="min-replicas"
        ),
        pytest.param(
            lambda d: d["spec"]["predictor"]["sklearn"].update(storageUri="gs://b/2"),
            True,
            id="storage",
        ),
        pytest.param(
            lambda d: d["metadata"].update(annotations={"autoscaling.knative.dev/target": "5"}),
            True,
            id="autoscaling-annotation-on-metadata",
        ),
    ],
)
async def test_revision_created_only_for_spec_changes(
    controller: Controller, change: Any, new_revision: bool
) -> None:
    doc = _v("gs://b/1")
    await controller.apply(docs_of(doc))
    doc2 = copy.deepcopy(doc)
    change(doc2)
    [result] = await controller.apply(docs_of(doc2))
    assert result.revisions == ([P2] if new_revision else [])
    names = [r.name for r in controller.revisions("default", "iris")]
    assert names == ([P1, P2] if new_revision else [P1])


async def test_canary_promote_and_rollback(controller: Controller) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    controller.revision_ready(P1)
    await controller.apply(docs_of(_v("gs://b/2", canaryTrafficPercent=10)))
    # The new revision is not ready: latestRevision still resolves to the old one.
    assert _traffic(controller) == [(P1, 10, None), (P1, 90, "prev")]
    controller.revision_ready(P2)
    assert _traffic(controller) == [(P2, 10, None), (P1, 90, "prev")]
    assert _comp(controller)["latestRolledoutRevision"] == P1
    # Rollback: 0% pins the rolled-out revision, the new one stays deployed.
    await controller.apply(docs_of(_v("gs://b/2", canaryTrafficPercent=0)))
    assert _traffic(controller) == [(P2, 0, None), (P1, 100, "prev")]
    live, routable = controller.live()
    assert {r.name for r in live} == {P1, P2}
    assert routable == {P1}  # 0% and untagged: live (kept deployed) but not routable
    # Promote: remove the percent.
    await controller.apply(docs_of(_v("gs://b/2")))
    assert _traffic(controller) == [(P2, 100, None)]
    comp = _comp(controller)
    assert (comp["latestRolledoutRevision"], comp["previousRolledoutRevision"]) == (P2, P1)
    live, routable = controller.live()
    assert [r.name for r in live] == [P2]
    assert routable == {P2}


async def test_tag_routing_adds_latest_and_prev_tags_with_urls(controller: Controller) -> None:
    ann = {"serving.kserve.io/enable-tag-routing": "true"}
    doc = _v("gs://b/1")
    doc["metadata"]["annotations"] = ann
    await controller.apply(docs_of(doc))
    controller.revision_ready(P1)
    doc2 = _v("gs://b/2", canaryTrafficPercent=30)
    doc2["metadata"]["annotations"] = ann
    await controller.apply(docs_of(doc2))
    controller.revision_ready(P2)
    assert _traffic(controller) == [(P2, 30, "latest"), (P1, 70, "prev")]
    urls = [t["url"] for t in _comp(controller)["traffic"]]
    assert urls == [
        "http://latest-iris-predictor.default.example.com",
        "http://prev-iris-predictor.default.example.com",
    ]


async def test_v1alpha2_default_and_canary_are_two_live_revisions(controller: Controller) -> None:
    doc = {
        "apiVersion": "serving.kubeflow.org/v1alpha2",
        "kind": "InferenceService",
        "metadata": {"name": "iris"},
        "spec": {
            "default": {"predictor": {"sklearn": {"storageUri": "gs://b/1"}}},
            "canary": {"predictor": {"sklearn": {"storageUri": "gs://b/2"}}},
            "canaryTrafficPercent": 20,
        },
    }
    [result] = await controller.apply(docs_of(doc))
    assert result.revisions == [P1, P2]
    controller.revision_ready(P1)
    assert _traffic(controller) == [(P1, 20, None), (P1, 80, "prev")]
    controller.revision_ready(P2)
    assert _traffic(controller) == [(P2, 20, None), (P1, 80, "prev")]
    assert _comp(controller)["latestRolledoutRevision"] == P1
    # Promotion as the v1alpha2 docs do it: canary spec moved to default, canary removed.
    promoted = copy.deepcopy(doc)
    promoted["spec"] = {"default": doc["spec"]["canary"]}
    [result] = await controller.apply(docs_of(promoted))
    assert result.revisions == []
    assert _traffic(controller) == [(P2, 100, None)]


async def test_transformer_gets_predictor_host_and_its_own_traffic(controller: Controller) -> None:
    doc = _v("gs://b/1")
    doc["spec"]["transformer"] = {
        "containers": [{"image": "me/transformer:1"}],
        "containerConcurrency": 4,
    }
    await controller.apply(docs_of(doc))
    [pred, trans] = sorted(controller.revisions("default", "iris"), key=lambda r: r.component)
    assert trans.name == "iris-transformer-00001"
    assert trans.predictor_host == "iris-predictor.default.example.com"
    assert trans.container_concurrency == 4
    controller.revision_ready(pred.name)
    assert _cond(controller, "TransformerReady")["status"] == "Unknown"
    assert _cond(controller, "IngressReady")["status"] == "Unknown"
    controller.revision_ready(trans.name)
    assert _cond(controller, "Ready")["status"] == "True"


async def test_no_supporting_runtime_is_a_condition_not_a_refusal(controller: Controller) -> None:
    doc = isvc_doc(model={"modelFormat": {"name": "caffe"}, "storageUri": "gs://b/1"})
    [result] = await controller.apply(docs_of(doc))
    assert result.revisions == []
    cond = _cond(controller, "PredictorReady")
    assert (cond["status"], cond["reason"]) == ("False", "NoSupportingRuntime")
    assert "caffe" in cond["message"]
    assert _cond(controller, "Ready")["reason"] == "NoSupportingRuntime"
    events = controller.recent_events("default", "iris")
    assert [e.reason for e in events] == ["NoSupportingRuntime"]


async def test_runtime_applied_with_the_isvc_resolves_it(controller: Controller) -> None:
    runtime = caffe_runtime()
    doc = isvc_doc(model={"modelFormat": {"name": "caffe"}, "storageUri": "gs://b/1"})
    results = await controller.apply(docs_of(runtime, doc))
    assert results[1].revisions == [P1]
    [rev] = controller.revisions("default", "iris")
    assert rev.model is not None
    assert rev.model.runtime == "caffe-rt"
    assert rev.container.image == "me/caffe:1"


async def test_refused_apply_changes_nothing(
    controller: Controller, listener: RecordingListener
) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    published = len(listener.live)
    bad = _v("gs://b/2", minReplicas=-1)
    with pytest.raises(InvalidInput) as info:
        await controller.apply(docs_of(_v("gs://b/2"), isvc_doc("other"), bad, source="many.yaml"))
    assert "many.yaml[2] InferenceService/iris: spec.predictor" in info.value.message
    assert [r.name for r in controller.revisions("default", "iris")] == [P1]
    assert [i["metadata"]["name"] for i in controller.list_isvcs()] == ["iris"]
    assert len(listener.live) == published


async def test_create_only_conflicts_on_an_existing_name(controller: Controller) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    with pytest.raises(Conflict):
        await controller.apply(docs_of(_v("gs://b/1")), create_only=True)


async def test_failure_and_recovery_show_in_conditions(controller: Controller) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    controller.revision_failed(P1, "InsufficientGPU", "needs 1 GPU, 0 free")
    cond = _cond(controller, "PredictorReady")
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientGPU")
    assert _cond(controller, "Ready")["status"] == "False"
    controller.revision_recovered(P1)
    controller.revision_ready(P1)
    assert _cond(controller, "Ready")["status"] == "True"


async def test_a_ready_replica_clears_a_failure_the_replica_manager_never_saw(
    controller: Controller,
) -> None:
    # A failure restored from the state file after a restart: the new replica manager reports
    # only that the revision is ready, never that it recovered from what it did not see.
    await controller.apply(docs_of(_v("gs://b/1")))
    controller.revision_ready(P1)
    controller.revision_failed(P1, "CrashLoopBackOff", "back-off restarting failed replica")
    assert _cond(controller, "Ready")["reason"] == "CrashLoopBackOff"
    controller.revision_ready(P1)
    controller.revision_ready(P1)
    assert _cond(controller, "Ready")["status"] == "True"
    [row] = controller.revision_states("default", "iris")
    assert (row["ready"], row["failure"]) == (True, None)
    reasons = [e.reason for e in controller.recent_events("default", "iris")]
    assert (reasons.count("RevisionReady"), reasons.count("RevisionRecovered")) == (1, 1)


async def test_listener_gets_live_routable_and_routes(
    controller: Controller, listener: RecordingListener
) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    assert listener.live[-1] == [P1]
    # The first revision is routed while it starts (the activator holds its requests), though
    # the status shows no traffic until it is ready, as KServe's does.
    assert listener.routable[-1] == {P1}
    [route] = listener.tables[-1].isvcs
    assert route.name == "iris"
    assert route.model_names == ("iris",)
    [comp] = route.components
    assert [(t.revision, t.percent, t.latest) for t in comp.targets] == [(P1, 100, True)]
    assert _traffic(controller) == []


async def test_a_starting_revision_of_a_component_with_a_ready_one_is_not_routed(
    controller: Controller, listener: RecordingListener
) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    controller.revision_ready(P1)
    await controller.apply(docs_of(_v("gs://b/2")))
    assert listener.live[-1] == [P1, P2]
    assert listener.routable[-1] == {P1}
    [comp] = listener.tables[-1].isvcs[0].components
    assert [(t.revision, t.percent) for t in comp.targets] == [(P1, 100)]


async def test_a_replica_report_is_published_on_a_later_loop_turn_not_from_the_report(
    controller: Controller, listener: RecordingListener
) -> None:
    await controller.apply(docs_of(_v("gs://b/1"), _v("gs://b/1", name="other")))
    controller.revision_ready(P1)
    controller.revision_ready("other-predictor-00001")
    controller.publish_pending()
    await controller.apply(docs_of(_v("gs://b/2"), _v("gs://b/2", name="other")))
    published = len(listener.tables)
    controller.revision_ready(P2)  # traffic moves to the new revisions: the routes change
    controller.revision_ready("other-predictor-00002")
    assert len(listener.tables) == published  # the report returned without calling the listener
    async with asyncio.timeout(5):
        while listener.tables[-1] is listener.tables[published - 1]:
            await asyncio.sleep(0)
    assert len(listener.tables) == published + 1  # both reports, one publish
    assert _traffic(controller) == [(P2, 100, None)]


async def test_a_report_that_changes_no_route_and_no_live_revision_is_not_published_again(
    controller: Controller, listener: RecordingListener
) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    published = len(listener.tables)
    controller.revision_ready(P1)  # routed to the latest revision before and after: same routes
    controller.publish_pending()
    assert _traffic(controller) == [(P1, 100, None)]
    assert len(listener.tables) == published
    assert listener.tables[-1].isvcs[0].components[0].targets[0].revision == P1


async def test_delete_removes_isvc_and_revisions(
    controller: Controller, listener: RecordingListener
) -> None:
    await controller.apply(docs_of(_v("gs://b/1")))
    await controller.delete("default", "iris")
    assert controller.list_isvcs() == []
    assert listener.live[-1] == []
    assert listener.tables[-1].isvcs == ()


async def test_removing_a_transformer_drops_its_revisions(controller: Controller) -> None:
    doc = _v("gs://b/1")
    doc["spec"]["transformer"] = {"containers": [{"image": "me/transformer:1"}]}
    await controller.apply(docs_of(doc))
    await controller.apply(docs_of(_v("gs://b/1")))
    assert [r.name for r in controller.revisions("default", "iris")] == [P1]
    live, _ = controller.live()
    assert [r.name for r in live] == [P1]
    assert "transformer" not in controller.get("default", "iris")["status"]["components"]


async def test_art_explainer_builds_its_container(controller: Controller) -> None:
    doc = _v("gs://b/1")
    doc["spec"]["explainer"] = {
        "art": {"type": "SquareAttack", "storageUri": "gs://b/art", "config": {"nb_classes": "10"}}
    }
    await controller.apply(docs_of(doc))
    [exp] = [r for r in controller.revisions("default", "iris") if r.component == "explainer"]
    assert exp.container.image == "kserve/art-explainer:latest"
    assert exp.container.args == (
        "--model_name=iris",
        "--http_port=8080",
        "--adversary_type=SquareAttack",
        "--storage_uri=/mnt/models",
        "--nb_classes=10",
    )
    assert exp.predictor_host == "iris-predictor.default.example.com"


async def test_bad_resource_quantity_is_refused_naming_the_document(controller: Controller) -> None:
    doc = isvc_doc(sklearn={"storageUri": "gs://b/1", "resources": {"limits": {"cpu": "lots"}}})
    with pytest.raises(InvalidInput) as info:
        await controller.apply(docs_of(doc, source="q.yaml"))
    assert info.value.message.startswith("q.yaml[0] InferenceService/iris: spec.predictor: ")
    assert "lots" in info.value.message
    assert controller.list_isvcs() == []


async def test_a_name_held_in_another_namespace_is_refused_until_that_isvc_is_deleted(
    controller: Controller,
) -> None:
    other = isvc_doc()
    other["metadata"]["namespace"] = "team-b"
    await controller.apply(docs_of(other))
    with pytest.raises(Conflict, match="exists in namespace team-b"):
        await controller.apply(docs_of(isvc_doc("again"), isvc_doc()))
    with pytest.raises(NotFound):  # the refused apply changed nothing
        controller.get("default", "again")
    second = copy.deepcopy(other)
    second["metadata"]["name"] = "x"
    with pytest.raises(Conflict, match="exists in namespace team-b"):  # within one apply
        await controller.apply(docs_of(second, _v("gs://b/2", name="x")))
    await controller.delete("team-b", "iris")
    [result] = await controller.apply(docs_of(isvc_doc()))
    assert result.action == "created"
