"""Annotations -> ScalingSpec, and apply-time validation messages (knative.md section 1.2 and 2)."""

from __future__ import annotations

import pytest

from minikn.autoscaler.spec import ScalingSpec, build_spec, validate_annotations
from minikn.config.autoscaler import HPA_CLASS, AutoscalerConfig

CFG = AutoscalerConfig()
P = "autoscaling.knative.dev/"


def spec(
    ann: dict[str, str] | None = None, cc: int = 0, cfg: AutoscalerConfig = CFG
) -> ScalingSpec:
    return build_spec("r-1", ann or {}, container_concurrency=cc, config=cfg)


@pytest.mark.parametrize(
    ("ann", "cc", "target", "total"),
    [
        # knative.md 1.2 "Worked defaults" table (ResolveMetricTarget, target.go)
        ({}, 0, 70.0, 100.0),
        ({}, 10, 7.0, 10.0),
        ({}, 1, 0.7, 1.0),
        ({P + "metric": "rps"}, 0, 140.0, 200.0),
        # target annotation: total = annotation; with CC != 0 capped at CC: min(50, 10) x 0.7
        ({P + "target": "50"}, 0, 35.0, 50.0),
        ({P + "target": "50"}, 10, 7.0, 10.0),
        ({P + "target": "5"}, 10, 3.5, 5.0),
        # utilization annotation: 100 x 0.5; legacy alias spelled targetUtilizationPercentage
        ({P + "target-utilization-percentage": "50"}, 0, 50.0, 100.0),
        ({P + "targetUtilizationPercentage": "90"}, 0, 90.0, 100.0),
        # TargetMin: max(0.01, 0.01 x 0.7) = 0.01
        ({P + "target": "0.01"}, 0, 0.01, 0.01),
    ],
)
def test_target_resolution_follows_knative_target_go(
    ann: dict[str, str], cc: int, target: float, total: float
) -> None:
    s = spec(ann, cc)
    assert s.target_value == pytest.approx(target)
    assert s.total_value == pytest.approx(total)


def test_defaults_come_from_config_autoscaler() -> None:
    s = spec()
    assert (s.autoscaler_class, s.metric, s.aggregation) == (
        "kpa.autoscaling.knative.dev",
        "concurrency",
        "linear",
    )
    assert (s.stable_window, s.panic_window, s.panic_threshold) == (60.0, 6.0, 2.0)
    # max-scale 0 (unlimited) is capped at config-autoscaler max-scale-limit (minikn: 100).
    assert (s.min_scale, s.max_scale, s.initial_scale, s.activation_scale) == (0, 100, 1, 0)
    assert (s.target_burst_capacity, s.scale_down_delay, s.progress_deadline) == (211.0, 0.0, 600.0)


def test_annotations_override_and_legacy_aliases_are_read() -> None:
    s = spec(
        {
            P + "window": "120s",
            P + "panicWindowPercentage": "5",
            P + "panic-threshold-percentage": "300",
            P + "minScale": "2",
            P + "max-scale": "9",
            P + "initialScale": "3",
            P + "activation-scale": "4",
            P + "scaleDownDelay": "1m",
            P + "targetBurstCapacity": "-1",
            P + "metricAggregationAlgorithm": "weightedExponential",
            P + "scale-to-zero-pod-retention-period": "90s",
            "serving.knative.dev/progress-deadline": "120s",
        }
    )
    # panic window = round(120 x 5 / 100) = 6 s
    assert (s.stable_window, s.panic_window, s.panic_threshold) == (120.0, 6.0, 3.0)
    assert (s.min_scale, s.max_scale, s.initial_scale, s.activation_scale) == (2, 9, 3, 4)
    assert (s.scale_down_delay, s.target_burst_capacity) == (60.0, -1.0)
    assert (s.aggregation, s.scale_to_zero_retention, s.progress_deadline) == (
        "weighted-exponential",
        90.0,
        120.0,
    )


def test_hpa_class_defaults_to_cpu_at_80_percent() -> None:
    s = spec({P + "class": HPA_CLASS})
    assert (s.metric, s.target_value, s.is_hpa) == ("cpu", 80.0, True)
    assert spec({P + "metric": "memory", P + "target": "60"}).is_hpa


@pytest.mark.parametrize(
    ("ann", "message"),
    [
        (
            {P + "class": "foo.knative.dev"},
            "autoscaling.knative.dev/class: foo.knative.dev: must be",
        ),
        ({P + "metric": "cpu"}, "autoscaling.knative.dev/metric: cpu: must be concurrency or rps"),
        ({P + "target": "0.001"}, "autoscaling.knative.dev/target: 0.001: must be at least 0.01"),
        ({P + "target": "abc"}, "autoscaling.knative.dev/target: abc: must be a number"),
        (
            {P + "target-utilization-percentage": "0.5"},
            "autoscaling.knative.dev/target-utilization-percentage: 0.5: must be in [1, 100]",
        ),
        (
            {P + "targetUtilizationPercentage": "101"},
            "autoscaling.knative.dev/targetUtilizationPercentage: 101: must be in [1, 100]",
        ),
        ({P + "window": "5s"}, "autoscaling.knative.dev/window: 5s: must be in [6s, 1h]"),
        ({P + "window": "2h"}, "autoscaling.knative.dev/window: 2h: must be in [6s, 1h]"),
        (
            {P + "window": "6500ms"},
            "autoscaling.knative.dev/window: 6500ms: must be in [6s, 1h] with whole-second",
        ),
        ({P + "window": "60"}, "autoscaling.knative.dev/window: 60: must be a duration"),
        (
            {P + "panic-window-percentage": "0.5"},
            "autoscaling.knative.dev/panic-window-percentage: 0.5: must be in [1.0, 100.0]",
        ),
        (
            {P + "panicThresholdPercentage": "100"},
            "autoscaling.knative.dev/panicThresholdPercentage: 100: must be in [110.0, 1000.0]",
        ),
        (
            {P + "min-scale": "-1"},
            "autoscaling.knative.dev/min-scale: -1: must be an integer in [0, 2147483647]",
        ),
        ({P + "minScale": "1.5"}, "autoscaling.knative.dev/minScale: 1.5: must be an integer"),
        (
            {P + "min-scale": "5", P + "max-scale": "3"},
            "autoscaling.knative.dev/max-scale: 3: must be at least min-scale (5), or 0",
        ),
        (
            {P + "initial-scale": "0"},
            "autoscaling.knative.dev/initial-scale: 0: must be at least 1 (0 only with "
            "allow-zero-initial-scale: true)",
        ),
        ({P + "activation-scale": "1"}, "autoscaling.knative.dev/activation-scale: 1: must be at"),
        (
            {P + "activation-scale": "5", P + "max-scale": "3"},
            "autoscaling.knative.dev/activation-scale: 5: must be in [min-scale 0, max-scale 3]",
        ),
        (
            {P + "scaleDownDelay": "-1s"},
            "autoscaling.knative.dev/scaleDownDelay: -1s: must be a duration",
        ),
        (
            {P + "scale-down-delay": "1.5s"},
            "autoscaling.knative.dev/scale-down-delay: 1.5s: must be in [0s, 1h] with whole-second",
        ),
        (
            {P + "scale-to-zero-pod-retention-period": "3h"},
            "autoscaling.knative.dev/scale-to-zero-pod-retention-period: 3h: must be in [0s, 1h]",
        ),
        (
            {P + "target-burst-capacity": "-2"},
            "autoscaling.knative.dev/target-burst-capacity: -2: must be at least 0, or -1",
        ),
        (
            {P + "metric-aggregation-algorithm": "median"},
            "autoscaling.knative.dev/metric-aggregation-algorithm: median: must be linear or",
        ),
        (
            {P + "min-scale": "1", P + "minScale": "2"},
            "autoscaling.knative.dev/min-scale: 1: set only one of "
            "autoscaling.knative.dev/min-scale and autoscaling.knative.dev/minScale",
        ),
        (
            {"serving.knative.dev/progress-deadline": "0s"},
            "serving.knative.dev/progress-deadline: 0s: must be a positive duration",
        ),
    ],
)
def test_validation_names_annotation_value_and_range(ann: dict[str, str], message: str) -> None:
    errors = validate_annotations(ann, container_concurrency=0, config=CFG)
    assert any(e.startswith(message) for e in errors), errors


def test_valid_annotations_have_no_errors() -> None:
    ann = {
        P + "class": HPA_CLASS,
        P + "metric": "memory",
        P + "target": "75",
        P + "minScale": "1",
        P + "max-scale": "4",
        P + "window": "6s",
        P + "scale-to-zero-pod-retention-period": "1.5s",
        P + "metric-aggregation-algorithm": "anything (not validated for hpa)",
        "serving.knative.dev/progress-deadline": "5m",
    }
    assert validate_annotations(ann, container_concurrency=5, config=CFG) == []


def test_config_rules_apply_to_annotations() -> None:
    cfg = AutoscalerConfig.model_validate(
        {"allow-zero-initial-scale": True, "max-scale": 5, "max-scale-limit": 10}
    )
    ok = {P + "initial-scale": "0", P + "max-scale": "10"}
    assert validate_annotations(ok, container_concurrency=0, config=cfg) == []
    errors = validate_annotations({P + "max-scale": "11"}, container_concurrency=0, config=cfg)
    assert errors == ["autoscaling.knative.dev/max-scale: 11: must be in [1, 10] (max-scale-limit)"]
    errors = validate_annotations({P + "max-scale": "0"}, container_concurrency=0, config=cfg)
    assert errors == [
        "autoscaling.knative.dev/max-scale: 0: max-scale=0 (unlimited), must be less than 10 "
        "(max-scale-limit)"
    ]


def test_without_a_limit_max_scale_stays_unlimited() -> None:
    cfg = AutoscalerConfig.model_validate({"max-scale-limit": 0})
    assert spec(cfg=cfg).max_scale == 0
    huge = {P + "min-scale": "2147483647", P + "max-scale": "0"}
    assert validate_annotations(huge, container_concurrency=0, config=cfg) == []


@pytest.mark.parametrize(
    ("ann", "message"),
    [
        (
            {P + "min-scale": "2147483647"},
            "autoscaling.knative.dev/min-scale: 2147483647: must be at most 100 "
            "(config-autoscaler max-scale-limit)",
        ),
        (
            {P + "min-scale": "18446744073709551616"},
            "autoscaling.knative.dev/min-scale: 18446744073709551616: must be an integer in "
            "[0, 2147483647]",
        ),
        (
            {P + "max-scale": "2147483648"},
            "autoscaling.knative.dev/max-scale: 2147483648: must be an integer in [0, 2147483647]",
        ),
        (
            {P + "max-scale": "101"},
            "autoscaling.knative.dev/max-scale: 101: must be in [1, 100] (max-scale-limit)",
        ),
        (
            {P + "initial-scale": "101"},
            "autoscaling.knative.dev/initial-scale: 101: must be at most 100 "
            "(config-autoscaler max-scale-limit)",
        ),
        (
            {P + "initial-scale": "5", P + "max-scale": "4"},
            "autoscaling.knative.dev/initial-scale: 5: must be at most max-scale (4)",
        ),
    ],
)
def test_scale_bounds_stay_under_the_platform_cap(ann: dict[str, str], message: str) -> None:
    assert validate_annotations(ann, container_concurrency=0, config=CFG) == [message]


@pytest.mark.parametrize(
    ("ann", "max_scale"), [({}, 100), ({P + "max-scale": "7"}, 7), ({P + "max-scale": "100"}, 100)]
)
def test_max_scale_is_capped_at_the_limit(ann: dict[str, str], max_scale: int) -> None:
    assert spec(ann).max_scale == max_scale


@pytest.mark.parametrize(
    ("window", "pct", "panic"),
    [("60s", "10", 6.0), ("65s", "10", 7.0), ("6s", "1", 1.0), ("75s", "10", 8.0)],
)
def test_panic_window_rounds_half_up_like_go_duration_round(
    window: str, pct: str, panic: float
) -> None:
    # metric.go: stable x pct / 100, Duration.Round(1s), at least the 1 s bucket.
    s = spec({P + "window": window, P + "panic-window-percentage": pct})
    assert s.panic_window == panic
    cfg = AutoscalerConfig.model_validate({"stable-window": window, "panic-window-percentage": pct})
    assert cfg.panic_window == panic
