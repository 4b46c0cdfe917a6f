"""KServe's deployment modes: the four spellings, the platform default, Standard (raw) mode's
Deployment + HPA semantics on the revision, no canary split, status and the update rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikn.api.deploy_mode import DEPLOYMENT_MODE, normalize_mode
from minikn.api.runtimes import default_registry
from minikn.autoscaler.spec import build_spec
from minikn.config import Settings
from minikn.config.autoscaler import HPA_CLASS
from minikn.controlplane.controller import Controller
from minikn.controlplane.store import StateStore
from minikn.core.clock import FakeClock
from minikn.core.errors import InvalidInput
from minikn.core.events import EventSink
from minikn.core.revision import RevisionSpec
from minikn.testing.manifests import docs_of, isvc_doc

from .conftest import RecordingListener

P1, P2 = "iris-predictor-00001", "iris-predictor-00002"


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("Knative", "Knative"),
        ("Serverless", "Knative"),
        ("Standard", "Standard"),
        ("RawDeployment", "Standard"),
    ],
)
def test_all_four_spellings_are_understood(value: str, mode: str) -> None:
    assert normalize_mode(value) == mode


@pytest.mark.parametrize(("value", "says"), [("ModelMesh", "not emulated"), ("raw", "unknown")])
def test_other_modes_are_refused_with_the_reason(value: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        normalize_mode(value)


def _doc(mode: str | None = "Standard", name: str = "iris", **predictor: Any) -> dict[str, Any]:
    doc = isvc_doc(name, sklearn={"storageUri": "gs://b/1"}, **predictor)
    if mode is not None:
        doc["metadata"]["annotations"] = {DEPLOYMENT_MODE: mode}
    return doc


def _rev(ctl: Controller) -> RevisionSpec:
    [rev] = [r for r in ctl.revisions("default", "iris") if r.name == P1]
    return rev


def _controller(tmp_path: Path, clock: FakeClock, settings: Settings | None = None) -> Controller:
    return Controller(
        settings or Settings(),
        clock=clock,
        store=StateStore(tmp_path / "state"),
        registry=default_registry(),
        events=EventSink(),
        listener=RecordingListener(),
    )


async def test_standard_revision_scales_on_cpu_from_one_replica_never_to_zero(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.apply(docs_of(_doc("RawDeployment", minReplicas=0, maxReplicas=4)))
    rev = _rev(ctl)
    assert rev.standard_mode
    spec = build_spec(P1, rev.annotations, container_concurrency=0, config=Settings().autoscaler)
    assert (spec.autoscaler_class, spec.metric, spec.target_value) == (HPA_CLASS, "cpu", 80.0)
    assert (spec.min_scale, spec.max_scale) == (1, 4)
    assert ctl.get("default", "iris")["status"]["deploymentMode"] == "Standard"


@pytest.mark.parametrize(
    ("klass", "replicas", "bounds"),
    [
        ("hpa", {}, (1, 1)),  # maxReplicas unset: raised to minReplicas, as KServe's HPA does
        ("hpa", {"minReplicas": 2, "maxReplicas": 5}, (2, 5)),
        ("none", {"minReplicas": 3, "maxReplicas": 5}, (3, 3)),
        ("external", {"minReplicas": 0, "maxReplicas": 5}, (1, 1)),
    ],
)
async def test_standard_autoscaler_classes_bound_the_replicas(
    tmp_path: Path,
    fake_clock: FakeClock,
    klass: str,
    replicas: dict[str, int],
    bounds: tuple[int, int],
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    doc = _doc(**replicas)
    doc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = klass
    await ctl.apply(docs_of(doc))
    spec = build_spec(
        P1, _rev(ctl).annotations, container_concurrency=0, config=Settings().autoscaler
    )
    assert (spec.min_scale, spec.max_scale) == bounds


async def test_knative_mode_stays_the_default_and_keeps_scale_to_zero(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.apply(docs_of(_doc(None, minReplicas=0)))
    rev = _rev(ctl)
    assert not rev.standard_mode
    assert rev.annotations["autoscaling.knative.dev/min-scale"] == "0"
    assert ctl.get("default", "iris")["status"]["deploymentMode"] == "Knative"


async def test_the_platform_default_mode_applies_without_the_annotation(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    settings = Settings.model_validate(
        {"inferenceservice-config": {"deploy": {"defaultDeploymentMode": "RawDeployment"}}}
    )
    ctl = _controller(tmp_path, fake_clock, settings)
    await ctl.apply(docs_of(_doc(None)))
    assert _rev(ctl).standard_mode
    assert ctl.get("default", "iris")["status"]["deploymentMode"] == "Standard"


async def test_standard_mode_ignores_canary_traffic_percent(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.apply(docs_of(_doc()))
    ctl.revision_ready(P1)
    doc = _doc(canaryTrafficPercent=10)
    doc["spec"]["predictor"]["sklearn"]["storageUri"] = "gs://b/2"
    await ctl.apply(docs_of(doc))
    ctl.revision_ready(P2)
    traffic = ctl.get("default", "iris")["status"]["components"]["predictor"]["traffic"]
    assert [(t["revisionName"], t["percent"]) for t in traffic] == [(P2, 100)]


async def test_the_mode_cannot_change_on_update_as_kserve_says(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    await ctl.apply(docs_of(_doc("Standard")))
    with pytest.raises(InvalidInput) as err:
        await ctl.apply(docs_of(_doc("Knative")))
    assert "update rejected: deploymentMode cannot be changed from 'Standard' to 'Knative'" in (
        err.value.message
    )
    await ctl.apply(docs_of(_doc(None)))  # no annotation: allowed, the mode stays


async def test_an_unknown_mode_is_refused_at_admission(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    ctl = _controller(tmp_path, fake_clock)
    with pytest.raises(InvalidInput, match="unknown deployment mode 'Raw'"):
        await ctl.apply(docs_of(_doc("Raw")))
