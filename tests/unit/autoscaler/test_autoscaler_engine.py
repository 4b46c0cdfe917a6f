"""One revision's scaler (Knative's UniScaler): the class picks the implementation once; a new
scaler adopts ready replicas; a class change replaces it; a revision at rest pokes on demand."""

from __future__ import annotations

import pytest

from minikn.autoscaler.engine import HpaScaler, KpaScaler, new_scaler, updated_scaler
from minikn.autoscaler.spec import build_spec
from minikn.config.autoscaler import AutoscalerConfig
from minikn.core.usage import ResourceUsage

CFG = AutoscalerConfig()
KPA = build_spec("r-1", {}, container_concurrency=0, config=CFG)
HPA = build_spec(
    "r-1",
    {"autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev",
     "autoscaling.knative.dev/metric": "cpu", "autoscaling.knative.dev/target": "80"},
    container_concurrency=0, config=CFG, cpu_request=1.0,
)  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "ready", "kind", "applied"),
    [
        (KPA, 0, KpaScaler, 1),  # initial-scale 1
        (KPA, 3, KpaScaler, 3),  # a restart adopts the 3 ready replicas
        (HPA, 0, HpaScaler, 1),
        (HPA, 4, HpaScaler, 4),
    ],
)
def test_a_new_scaler_is_chosen_by_class_and_adopts_ready_replicas(
    spec: object, ready: int, kind: type, applied: int
) -> None:
    s = new_scaler(spec, now=0.0, ready=ready)  # type: ignore[arg-type]
    assert type(s) is kind
    assert s.applied == applied


def test_an_update_keeps_the_scaler_unless_the_class_changes() -> None:
    kpa = new_scaler(KPA, now=0.0)
    wider = build_spec("r-1", {"autoscaling.knative.dev/target": "50"}, container_concurrency=0,
                       config=CFG)  # fmt: skip
    same = updated_scaler(kpa, wider, reachable=False, now=5.0, ready=2)
    assert same is kpa
    assert (same.spec.target_value, same.applied) == (35.0, 1)  # 50 x utilization 0.7
    other = updated_scaler(kpa, HPA, reachable=True, now=5.0, ready=2)
    assert type(other) is HpaScaler
    assert other.applied == 2


def test_hpa_never_pokes_and_shows_utilization_after_a_sync() -> None:
    s = new_scaler(HPA, now=0.0, ready=2)
    assert not s.wants_poke(0.0)
    assert s.view().active == "activating"
    # 2 replicas using 3 cores of 1-core requests: 150 % -> ceil(2 x 150/80) = 4.
    ev = s.evaluate(0.0, ready=2, usage=ResourceUsage(3.0, 0, 2))
    assert (ev.apply, s.applied, s.desired) == (4, 4, 4)
    assert s.view()[:5] == (150.0, 150.0, False, 0.0, "active")
    # Within the 15 s sync period nothing is re-decided.
    assert s.evaluate(10.0, ready=4, usage=ResourceUsage(0.0, 0, 4)).apply is None


@pytest.mark.parametrize(
    ("annotations", "replicas", "active", "pokes"),
    [
        ({}, 0, "inactive", True),
        ({"autoscaling.knative.dev/min-scale": "2"}, 2, "active", False),
    ],
)
def test_a_revision_at_rest_is_where_a_load_test_finds_it(
    annotations: dict[str, str], replicas: int, active: str, pokes: bool
) -> None:
    spec = build_spec("r-1", annotations, container_concurrency=0, config=CFG)
    s = KpaScaler.at_rest(spec, now=100.0, replicas=replicas)
    assert (s.applied, s.desired, s.kpa.active, s.wants_poke(100.0)) == (
        replicas, replicas, active, pokes,
    )  # fmt: skip


def test_the_first_request_to_a_revision_at_rest_at_zero_scales_to_one() -> None:
    s = KpaScaler.at_rest(KPA, now=100.0, replicas=0)
    s.note_poke(100.0)
    ev = s.evaluate(100.0, ready=0)
    assert (ev.apply, s.kpa.active) == (1, "activating")
