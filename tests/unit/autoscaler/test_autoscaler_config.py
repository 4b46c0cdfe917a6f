"""config-autoscaler: Knative's defaults and validation rules (config.go, knative.md 1.1)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from minikn.config.autoscaler import AutoscalerConfig


def test_defaults_match_knative_config_go() -> None:
    c = AutoscalerConfig()
    assert (c.stable_window, c.panic_window_percentage, c.panic_window) == (60.0, 10.0, 6.0)
    assert (c.panic_threshold_percentage, c.target_utilization) == (200.0, 0.7)
    assert (c.container_concurrency_target_default, c.requests_per_second_target_default) == (
        100.0,
        200.0,
    )
    assert (c.max_scale_up_rate, c.max_scale_down_rate) == (1000.0, 2.0)
    assert (c.scale_to_zero_grace_period, c.scale_to_zero_pod_retention_period) == (30.0, 0.0)
    assert (c.initial_scale, c.allow_zero_initial_scale, c.min_scale, c.max_scale) == (
        1,
        False,
        0,
        0,
    )
    assert (c.target_burst_capacity, c.activator_capacity, c.enable_scale_to_zero) == (
        211.0,
        100.0,
        True,
    )
    assert c.scale_down_delay == 0.0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"container-concurrency-target-percentage": 0}, "(0, 100]"),
        ({"container-concurrency-target-percentage": 101}, "(0, 100]"),
        ({"stable-window": "5s"}, "between 6s and 1h"),
        ({"stable-window": "90500ms"}, "whole seconds"),
        ({"panic-window-percentage": 0.5}, "[1, 100]"),
        ({"max-scale-up-rate": 1.0}, "greater than 1.0"),
        ({"max-scale-down-rate": 0.5}, "greater than 1.0"),
        ({"scale-to-zero-grace-period": "0s"}, "must be positive"),
        ({"scale-to-zero-pod-retention-period": -1}, "non-negative"),
        ({"scale-down-delay": "1.5s"}, "whole seconds"),
        ({"target-burst-capacity": -2}, "-1 (unlimited)"),
        ({"activator-capacity": 0.5}, "at least 1"),
        ({"pod-autoscaler-class": "x.knative.dev"}, "must be kpa"),
        ({"initial-scale": 0}, "allow-zero-initial-scale"),
        ({"min-scale": 3, "max-scale": 2}, "min-scale must not be greater"),
        ({"max-scale": 6, "max-scale-limit": 5}, "must be in [0, max-scale-limit] range"),
        ({"container-concurrency-target-default": 0.001}, "at least 0.01"),
        ({"requests-per-second-target-default": 0.001}, "at least 0.01"),
    ],
)
def test_invalid_values_are_refused_with_the_rule(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        AutoscalerConfig.model_validate(data)
    assert fragment in str(info.value)


def test_legacy_fraction_and_allowed_zero_initial_scale() -> None:
    c = AutoscalerConfig.model_validate(
        {"container-concurrency-target-percentage": 0.8, "initial-scale": 0,
         "allow-zero-initial-scale": True}
    )  # fmt: skip
    assert (c.target_utilization, c.initial_scale) == (0.8, 0)
    # custom classes (not *.knative.dev) are allowed
    assert AutoscalerConfig.model_validate({"pod-autoscaler-class": "keda.sh"}).pod_autoscaler_class
