"""The change hub tracks InferenceServices and InferenceGraphs under one (namespace, name) key
space: each change carries its object's kind, a kind change is DELETED then ADDED, versions are
asked for by kind."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, cast

from minikn.apiserver.kube.hub import Change, ObjectHub
from minikn.controlplane.controller import Controller


class _Plane:
    """The controller's side the hub reads: objects by key, creation times, change listeners."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.listeners: list[Callable[[Collection[str]], None]] = []

    def add_change_listener(self, callback: Callable[[Collection[str]], None]) -> None:
        self.listeners.append(callback)

    def objects(self, keys: Collection[str] | None = None) -> dict[tuple[str, str], Any]:
        chosen = sorted(self.docs if keys is None else (k for k in keys if k in self.docs))
        return {tuple(k.split("/", 1)): self.docs[k] for k in chosen}  # type: ignore[misc]

    def created_at(self, namespace: str, name: str) -> float:
        return float(len(self.docs[f"{namespace}/{name}"]["kind"]))

    def put(self, key: str, kind: str, label: str = "") -> None:
        self.docs[key] = {"kind": kind, "metadata": {"labels": {"l": label}}}
        for cb in self.listeners:
            cb([key])

    def drop(self, key: str) -> None:
        del self.docs[key]
        for cb in self.listeners:
            cb([key])


def _hub() -> tuple[_Plane, ObjectHub, list[Change]]:
    plane = _Plane()
    hub = ObjectHub(cast(Controller, plane), first_rv=100)
    seen: list[Change] = []
    hub.watch(lambda c: seen.append(c) is None, None)
    return plane, hub, seen


def test_graph_changes_carry_their_kind_and_a_uid_of_their_own() -> None:
    plane, hub, seen = _hub()
    plane.put("default/g", "InferenceGraph")
    plane.put("default/s", "InferenceService")
    hub.sync()
    assert [(c.type, c.kind, c.key) for c in seen] == [
        ("ADDED", "InferenceGraph", ("default", "g")),
        ("ADDED", "InferenceService", ("default", "s")),
    ]
    assert seen[0].object["metadata"]["uid"] != seen[1].object["metadata"]["uid"]
    plane.put("default/g", "InferenceGraph", "x")
    hub.sync()
    assert (seen[-1].type, seen[-1].kind) == ("MODIFIED", "InferenceGraph")
    assert seen[-1].object["metadata"]["uid"] == seen[0].object["metadata"]["uid"]


def test_a_name_that_changes_kind_is_deleted_as_the_old_kind_then_added_as_the_new() -> None:
    plane, hub, seen = _hub()
    plane.put("default/n", "InferenceService")
    hub.sync()
    plane.drop("default/n")
    plane.put("default/n", "InferenceGraph")
    hub.sync()
    assert [(c.type, c.kind) for c in seen] == [
        ("ADDED", "InferenceService"),
        ("DELETED", "InferenceService"),
        ("ADDED", "InferenceGraph"),
    ]
    assert [c.rv for c in seen] == [101, 102, 103]


def test_versions_are_asked_for_by_kind() -> None:
    plane, hub, _ = _hub()
    plane.put("default/g", "InferenceGraph")
    assert hub.version_of(("default", "g"), "InferenceGraph") == 101
    assert hub.version_of(("default", "g"), "InferenceService") is None
    assert hub.version_of(("default", "g")) == 101
    assert hub.version_of(("default", "absent"), "InferenceGraph") is None
