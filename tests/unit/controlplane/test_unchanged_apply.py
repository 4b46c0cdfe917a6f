"""A re-apply of the document an ISVC was planned from is a no-op (as ``kubectl apply`` of an
unchanged object): nothing planned, journaled, notified or published."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Collection
from typing import Any

import pytest

from minikn.api.documents import Document, content_digest
from minikn.controlplane.controller import Controller
from minikn.core.errors import Conflict
from minikn.testing.manifests import caffe_runtime, docs_of, isvc_doc

from .conftest import RecordingListener

P1, P2, P3 = "iris-predictor-00001", "iris-predictor-00002", "iris-predictor-00003"
CAFFE_RUNTIME = caffe_runtime()


def _digested(*bodies: dict[str, Any]) -> list[Document]:
    """The documents as the API reads them: each with its content digest."""
    return [
        dataclasses.replace(d, digest=content_digest(d.body))
        for d in docs_of(*copy.deepcopy(bodies))
    ]


def _v(uri: str) -> dict[str, Any]:
    return isvc_doc(sklearn={"storageUri": uri})


def _revisions(ctl: Controller) -> list[str]:
    return [r.name for r in ctl.revisions("default", "iris")]


class _Recorder:
    def __init__(self, ctl: Controller) -> None:
        self.changes: list[set[str]] = []
        self.writes = 0
        ctl.add_change_listener(self.changed)
        store = ctl._store
        write = store.write_change

        def counted(change: Any) -> None:
            self.writes += 1
            write(change)

        store.write_change = counted  # type: ignore[method-assign]

    def changed(self, keys: Collection[str]) -> None:
        self.changes.append(set(keys))


async def test_reapplying_the_stored_document_writes_notifies_and_publishes_nothing(
    controller: Controller, listener: RecordingListener
) -> None:
    await controller.apply(_digested(_v("gs://b/1")))
    seen = _Recorder(controller)
    published = len(listener.tables)
    [result] = await controller.apply(_digested(_v("gs://b/1")))
    assert (result.action, result.revisions, result.name) == ("unchanged", [], "iris")
    assert (seen.writes, seen.changes, len(listener.tables)) == (0, [], published)
    assert _revisions(controller) == [P1]


async def test_a_changed_document_and_the_old_one_again_are_both_planned(
    controller: Controller,
) -> None:
    await controller.apply(_digested(_v("gs://b/1")))
    [changed] = await controller.apply(_digested(_v("gs://b/2")))
    [back] = await controller.apply(_digested(_v("gs://b/1")))
    assert (changed.action, changed.revisions) == ("configured", [P2])
    assert (back.action, back.revisions) == ("configured", [P3])  # Knative: a new revision


async def test_the_stored_document_after_a_change_in_the_same_apply_is_planned(
    controller: Controller,
) -> None:
    await controller.apply(_digested(_v("gs://b/1")))
    results = await controller.apply(_digested(_v("gs://b/2"), _v("gs://b/1")))
    assert [r.revisions for r in results] == [[P2], [P3]]
    spec = controller.get("default", "iris")["spec"]["predictor"]["sklearn"]
    assert spec["storageUri"] == "gs://b/1"


async def test_a_new_runtime_plans_an_unchanged_document_again(controller: Controller) -> None:
    doc = isvc_doc(model={"modelFormat": {"name": "caffe"}, "storageUri": "gs://b/1"})
    await controller.apply(_digested(doc))
    [again] = await controller.apply(_digested(doc))
    assert again.warnings  # no runtime yet: still reported, never skipped
    await controller.apply(_digested(CAFFE_RUNTIME))
    [resolved] = await controller.apply(_digested(doc))
    assert (resolved.action, resolved.revisions) == ("configured", [P1])


async def test_an_unchanged_document_is_refused_as_before_when_created_only(
    controller: Controller,
) -> None:
    await controller.apply(_digested(_v("gs://b/1")))
    with pytest.raises(Conflict):
        await controller.apply(_digested(_v("gs://b/1")), create_only=True)


async def test_after_a_delete_the_same_document_creates_again(controller: Controller) -> None:
    await controller.apply(_digested(_v("gs://b/1")))
    await controller.delete("default", "iris")
    [result] = await controller.apply(_digested(_v("gs://b/1")))
    assert (result.action, result.revisions) == ("created", [P1])


async def test_a_document_without_a_digest_is_planned_and_forgets_the_old_one(
    controller: Controller,
) -> None:
    await controller.apply(_digested(_v("gs://b/1")))
    await controller.apply(docs_of(_v("gs://b/2")))  # e.g. a kubectl patch: no digest
    [result] = await controller.apply(_digested(_v("gs://b/1")))
    assert (result.action, result.revisions) == ("configured", [P3])
