"""The dashboard's state over a real controller: ISVC rows are kept and only the ISVCs the
controller reports changed are rendered again; the catalog is left out for a page that holds its
version; the detail is the viewed revision's; the tick's ETag names what the body holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minikn.api.runtimes import default_registry
from minikn.apiserver.dashboard.routes import DashboardState
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.events import EventSink
from minikn.testing.manifests import docs_of, isvc_doc


async def _state(tmp_path: Path, names: list[str]) -> tuple[Controller, DashboardState, FakeClock]:
    clock = FakeClock()
    ctl = Controller(
        Settings(),
        clock=clock,
        store=StateStore(tmp_path / "state"),
        registry=default_registry(),
        events=EventSink(),
    )
    await ctl.start()
    await ctl.apply(docs_of(*(isvc_doc(n) for n in names)))
    ctl.status_extras = lambda rev: {"replicas": {"desired": 2, "ready": 1, "pending": 1}}
    state = DashboardState(ctl, requests=None, buffered=None, clock=clock)
    return ctl, state, clock


def _names(snap: dict[str, Any]) -> list[str]:
    return [i["name"] for i in snap["catalog"]["isvcs"]]


async def test_only_the_isvcs_reported_changed_are_rendered_again(tmp_path: Path) -> None:
    ctl, state, clock = await _state(tmp_path, ["a", "b", "c"])
    first = state.snapshot()
    assert _names(first) == ["a", "b", "c"]
    assert state.rendered == 3
    await clock.advance(1.0)
    assert state.snapshot(known=first["catalogVersion"]).keys() >= {"summary", "detail"}
    assert state.rendered == 3  # nothing changed: nothing rendered
    await ctl.apply(docs_of(isvc_doc("b", sklearn={"storageUri": "gs://bucket/other"})))
    await clock.advance(1.0)
    second = state.snapshot(known=first["catalogVersion"])
    assert state.rendered == 4
    assert second["catalogVersion"] != first["catalogVersion"]
    assert "b-predictor-00002" in [r[0] for r in second["catalog"]["revisions"]]
    await ctl.delete("default", "a")
    await clock.advance(1.0)
    assert _names(state.snapshot()) == ["b", "c"]


async def test_a_page_holding_the_catalog_gets_only_the_live_parts(tmp_path: Path) -> None:
    _, state, clock = await _state(tmp_path, ["a", "b"])
    first = state.snapshot()
    await clock.advance(1.0)
    snap = state.snapshot(known=first["catalogVersion"])
    assert "catalog" not in snap
    assert snap["summary"] == {
        "a-predictor-00001": [2, 1, 1, 0, 0.0],
        "b-predictor-00001": [2, 1, 1, 0, 0.0],
    }


async def test_the_detail_is_the_viewed_revision_or_else_the_first(tmp_path: Path) -> None:
    _, state, _ = await _state(tmp_path, ["a", "b"])
    assert state.snapshot()["detail"]["name"] == "a-predictor-00001"
    assert state.snapshot("b-predictor-00001")["detail"]["name"] == "b-predictor-00001"
    assert state.snapshot("no-such-revision")["detail"]["name"] == "a-predictor-00001"


async def test_the_etag_is_one_per_tick_and_answer(tmp_path: Path) -> None:
    _, state, clock = await _state(tmp_path, ["a", "b"])
    tag = state.etag(None, None)
    assert state.etag(None, None) == tag
    assert state.etag("b-predictor-00001", None) != tag
    assert state.etag(None, state.version) != tag  # without the catalog
    computed = state.computed
    await clock.advance(1.0)
    assert state.etag(None, None) != tag
    assert state.computed == computed + 1
