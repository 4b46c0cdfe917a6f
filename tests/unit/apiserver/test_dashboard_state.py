"""The dashboard's state over a real controller: ISVC rows are kept and only the ISVCs the
controller reports changed are rendered again; the catalog is left out for a page that holds its
version; the detail is the viewed revision's; the tick's ETag names what the body holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minikn.api.runtimes import default_registry
from minikn.apiserver.dashboard.routes import SWEEP_TICKS, DashboardState
from minikn.config import Settings
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.events import EventSink
from minikn.telemetry.request_metrics import RequestCollector
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


async def test_a_page_holding_a_tick_gets_only_the_summary_rows_changed_after_it(
    tmp_path: Path,
) -> None:
    ctl, state, clock = await _state(tmp_path, ["a", "b"])
    first = state.snapshot()
    assert first["summaryFull"] is True
    await clock.advance(1.0)
    same = state.snapshot(known=first["catalogVersion"], since=first["tick"])
    assert (same["summaryFull"], same["summary"]) == (False, {})
    desired = {"a-predictor-00001": 3}
    ctl.status_extras = lambda rev: {
        "replicas": {"desired": desired.get(rev, 2), "ready": 1, "pending": 1}
    }
    await clock.advance(1.0)
    moved = state.snapshot(since=same["tick"])
    assert moved["summary"] == {"a-predictor-00001": [3, 1, 1, 0, 0.0]}
    assert state.snapshot(since=first["tick"])["summary"] == moved["summary"]
    for foreign in ("other-1", f"{first['tick']}9999", "garbage"):
        assert state.snapshot(since=foreign)["summaryFull"] is True


async def test_idle_revisions_are_read_again_only_in_turn_or_when_their_requests_move(
    tmp_path: Path,
) -> None:
    names = [f"i{n}" for n in range(20)]
    ctl, _, clock = await _state(tmp_path, names)
    ctl.status_extras = lambda rev: {"replicas": {"desired": 0, "ready": 0, "pending": 0}}
    requests = RequestCollector("c", "h")
    state = DashboardState(ctl, requests=requests, buffered=None, clock=clock)
    state.snapshot()
    assert state.read == 20  # the first tick reads every revision
    await clock.advance(1.0)
    state.snapshot()
    assert state.read == 20 + 20 // SWEEP_TICKS  # idle: only the sweep's share
    requests.series("default", "i7", "predictor", "i7-predictor-00001").observe(200, 0.01)
    await clock.advance(1.0)
    snap = state.snapshot()
    assert state.read == 20 + 2 * (20 // SWEEP_TICKS) + 1
    assert snap["summary"]["i7-predictor-00001"][4] == 1.0  # one request in the last second
    for _ in range(SWEEP_TICKS):
        await clock.advance(1.0)
        state.snapshot()
    assert state.snapshot()["summary"]["i7-predictor-00001"][4] == 0  # it went idle again


async def test_a_page_gets_only_the_events_after_the_newest_it_holds(tmp_path: Path) -> None:
    ctl, state, clock = await _state(tmp_path, ["a"])
    first = state.snapshot()
    newest = first["events"][-1]["seq"]
    await ctl.delete("default", "a")
    await ctl.apply(docs_of(isvc_doc("a", sklearn={"storageUri": "gs://bucket/other"})))
    await clock.advance(1.0)
    later = state.snapshot(events=newest)["events"]
    assert later
    assert all(e["seq"] > newest for e in later)
    assert state.snapshot(events=later[-1]["seq"])["events"] == []
