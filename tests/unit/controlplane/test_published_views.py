"""The live view and route table kept from the changed ISVCs alone equal the ones computed from
the whole state, whatever the sequence of applies, deletes and replica reports."""

from __future__ import annotations

import random

import pytest

from minikn.controlplane.controller import Controller
from minikn.controlplane.reconcile import isvc_route, live_revisions
from minikn.controlplane.sortedmap import SortedMap
from minikn.testing.manifests import docs_of, isvc_doc

from .conftest import RecordingListener


def _expected(ctl: Controller) -> tuple[list[str], set[str], list[str]]:
    """(live names, routable names, routed ISVC names) computed from the whole state."""
    state = ctl._state
    views = [live_revisions(i) for i in state.isvcs.values()]
    live = sorted(set().union(*(lv for lv, _ in views)) & set(state.revisions))
    routable = set().union(*(rt for _, rt in views))
    routes = [isvc_route(state.isvcs[k]).name for k in sorted(state.isvcs)]
    return live, routable, routes


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_incremental_views_equal_the_whole_state_computation(
    controller: Controller, listener: RecordingListener, seed: int
) -> None:
    rng = random.Random(seed)
    names = [f"m{i}" for i in range(12)]
    for step in range(60):
        name = rng.choice(names)
        action = rng.random()
        exists = any(i["metadata"]["name"] == name for i in controller.list_isvcs())
        if action < 0.5:
            uri = f"gs://b/{rng.randrange(3)}"
            await controller.apply(docs_of(isvc_doc(name, sklearn={"storageUri": uri})))
        elif action < 0.7 and exists:
            await controller.delete("default", name)
        elif exists:
            for spec in controller.revisions("default", name):
                if rng.random() < 0.5:
                    controller.revision_ready(spec.name)
            controller.publish_pending()
        live, routable = controller.live()
        table = controller.route_table()
        want_live, want_routable, want_routes = _expected(controller)
        assert [s.name for s in live] == want_live, step
        assert routable == want_routable, step
        assert [r.name for r in table.isvcs] == want_routes, step
        if listener.live:
            assert listener.live[-1] == want_live, step


def test_sorted_map_keeps_key_order_through_changes() -> None:
    m: SortedMap[int] = SortedMap()
    for key, value in [("b", 2), ("a", 1), ("c", 3), ("b", 20)]:
        m.set(key, value)
    assert (m.keys(), m.values()) == (["a", "b", "c"], [1, 20, 3])
    assert m.remove("a")
    assert not m.remove("a")
    value = m.get("b")
    assert value == 20
    assert m.set("b", value) is False  # the same object: no change
    assert (m.keys(), len(m)) == (["b", "c"], 2)
