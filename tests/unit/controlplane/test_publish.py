"""Publishing to the data plane: level-triggered, never re-entrant, all or nothing per apply.

The data plane here is the real Autoscaler (on a fake scaler) reporting through the platform's
RevisionFanOut, so a revision created at zero reports ready from inside the publish, as it does
in ``minikn serve``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minikn.api.runtimes import default_registry
from minikn.autoscaler.loop import Autoscaler
from minikn.config import Settings
from minikn.controlplane.controller import ApplyRolledBack, Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.errors import NotFound
from minikn.core.events import EventSink
from minikn.core.revision import RevisionSpec
from minikn.core.routes import RouteTable
from minikn.core.usage import ResourceUsage
from minikn.platform.server import ListenerFanOut, RevisionFanOut
from minikn.telemetry.metrics import Metrics
from minikn.testing.manifests import docs_of, isvc_doc

ZERO = {"config-autoscaler": {"allow-zero-initial-scale": True}}


@dataclass(frozen=True)
class ReplicaCounts:
    pending: int = 0


class FakeScaler:
    def __init__(self) -> None:
        self.desired: dict[str, int] = {}

    def ready_count(self, revision: str) -> int:
        return 0

    def set_desired(self, revision: str, replicas: int) -> None:
        self.desired[revision] = replicas

    def usage(self, revision: str) -> ResourceUsage:
        return ResourceUsage()

    def status(self, revision: str) -> ReplicaCounts:
        return ReplicaCounts()


class AutoscalingDataPlane:
    """A ControlPlaneListener that upserts every live revision into a real Autoscaler."""

    def __init__(self, autoscaler: Autoscaler) -> None:
        self.autoscaler = autoscaler
        self.calls = 0
        self.table = RouteTable()
        self.live: list[str] = []
        self.fail = False

    def revisions_changed(self, live: Sequence[RevisionSpec], routable: set[str]) -> None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("the data plane is broken")
        self.live = [s.name for s in live]
        for spec in live:
            self.autoscaler.upsert(spec, routable=spec.name in routable)

    def routes_changed(self, table: RouteTable) -> None:
        self.table = table


class Wired:
    def __init__(self, controller: Controller, plane: AutoscalingDataPlane, store: Path) -> None:
        self.controller, self.plane, self.store = controller, plane, store


@pytest.fixture
async def wired(tmp_path: Path, fake_clock: FakeClock) -> AsyncIterator[Wired]:
    settings = Settings.model_validate(ZERO)
    fanout = ListenerFanOut()  # as in minikn serve: the data plane subscribes once it exists
    ctl = Controller(
        settings,
        clock=fake_clock,
        store=StateStore(tmp_path / "state"),
        registry=default_registry(),
        events=EventSink(),
        listener=fanout,
    )
    autoscaler = Autoscaler(
        settings,
        clock=fake_clock,
        scaler=FakeScaler(),
        listener=RevisionFanOut(ctl),
        metrics=Metrics(),
    )
    plane = AutoscalingDataPlane(autoscaler)
    fanout.subscribers.append(plane)
    await ctl.start()
    yield Wired(ctl, plane, tmp_path / "state")
    await ctl.close()


def zero_isvc(name: str) -> dict[str, Any]:
    doc = isvc_doc(name, minReplicas=0, sklearn={"storageUri": "gs://bucket/model"})
    doc["metadata"]["annotations"] = {"autoscaling.knative.dev/initial-scale": "0"}
    return doc


def routed(table: RouteTable) -> dict[str, list[tuple[str, int]]]:
    return {
        isvc.name: [(t.revision, t.percent) for c in isvc.components for t in c.targets]
        for isvc in table.isvcs
    }


@pytest.mark.parametrize("count", [300, 1000])
async def test_applying_many_zero_scale_isvcs_publishes_a_bounded_number_of_times(
    wired: Wired, count: int
) -> None:
    names = [f"m{i:04d}" for i in range(count)]
    before = wired.plane.calls
    results = await wired.controller.apply(docs_of(*(zero_isvc(n) for n in names)))
    assert [r.action for r in results] == ["created"] * count
    # Once with the new revisions, once more with them ready at zero (reported from inside the
    # first publish): not once per revision, and never from inside a publish.
    assert wired.plane.calls - before <= 2
    assert routed(wired.plane.table) == {n: [(f"{n}-predictor-00001", 100)] for n in names}
    ready = [
        c["status"]
        for n in (names[0], names[-1])
        for c in wired.controller.get("default", n)["status"]["conditions"]
        if c["type"] == "Ready"
    ]
    assert ready == ["True", "True"]


async def test_an_apply_the_data_plane_refuses_is_rolled_back_everywhere(wired: Wired) -> None:
    await wired.controller.apply(docs_of(zero_isvc("kept")))
    wired.plane.fail = True
    with pytest.raises(ApplyRolledBack, match=r"not applied.*the data plane is broken"):
        await wired.controller.apply(docs_of(zero_isvc("refused")))
    with pytest.raises(NotFound):
        wired.controller.get("default", "refused")
    assert "refused" not in {i.name for i in StateStore(wired.store).load().isvcs.values()}
    wired.plane.fail = False
    wired.controller.publish_pending()  # the rolled-back state reaches the data plane
    assert set(routed(wired.plane.table)) == {"kept"}
    assert wired.plane.live == ["kept-predictor-00001"]
