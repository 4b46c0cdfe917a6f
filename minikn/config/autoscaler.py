"""``config-autoscaler``: Knative's autoscaler ConfigMap, with its defaults and validation.

Source: knative/serving ``pkg/autoscaler/config/config.go`` (``defaultConfig``, ``validate``) and
``config/core/configmaps/autoscaler.yaml``.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from minikn.config.types import ConfigGroup, Duration

__all__ = ["HPA_CLASS", "KPA_CLASS", "AutoscalerConfig"]

KPA_CLASS = "kpa.autoscaling.knative.dev"
HPA_CLASS = "hpa.autoscaling.knative.dev"

TARGET_MIN = 0.01
"""Knative's ``TargetMin``: no per-pod target may fall below this."""
WINDOW_MIN = 6.0
WINDOW_MAX = 3600.0


class AutoscalerConfig(ConfigGroup):
    """Knative's ``config-autoscaler`` keys."""

    container_concurrency_target_percentage: float = Field(
        70.0, alias="container-concurrency-target-percentage"
    )
    """Target utilization of the per-pod concurrency, in percent (0, 100]."""
    container_concurrency_target_default: float = Field(
        100.0, alias="container-concurrency-target-default"
    )
    """Soft concurrency target per pod when containerConcurrency is 0."""
    requests_per_second_target_default: float = Field(
        200.0, alias="requests-per-second-target-default"
    )
    """Per-pod RPS target for the ``rps`` metric."""
    target_burst_capacity: float = Field(211.0, alias="target-burst-capacity")
    """Spare capacity kept before the activator leaves the path; -1 = always in path."""
    stable_window: Duration = Field(60.0, alias="stable-window")
    """Averaging window of stable mode, [6s, 1h], whole seconds."""
    panic_window_percentage: float = Field(10.0, alias="panic-window-percentage")
    """Panic window as a percentage of the stable window, [1, 100]."""
    panic_threshold_percentage: float = Field(200.0, alias="panic-threshold-percentage")
    """Enter panic when panic-desired / ready reaches this percentage."""
    max_scale_up_rate: float = Field(1000.0, alias="max-scale-up-rate")
    """Most a tick may multiply the ready count by; > 1."""
    max_scale_down_rate: float = Field(2.0, alias="max-scale-down-rate")
    """Most a tick may divide the ready count by; > 1."""
    enable_scale_to_zero: bool = Field(True, alias="enable-scale-to-zero")
    """When false a desired scale of 0 becomes 1."""
    scale_to_zero_grace_period: Duration = Field(30.0, alias="scale-to-zero-grace-period")
    """Upper bound on waiting for the activator to be in the path before removing the last pod."""
    scale_to_zero_pod_retention_period: Duration = Field(
        0.0, alias="scale-to-zero-pod-retention-period"
    )
    """Minimum time the last pod stays after the decision to scale to zero."""
    pod_autoscaler_class: str = Field(KPA_CLASS, alias="pod-autoscaler-class")
    """Default autoscaler class (KPA or HPA)."""
    activator_capacity: float = Field(100.0, alias="activator-capacity")
    """Requests one activator takes; >= 1."""
    initial_scale: int = Field(1, alias="initial-scale")
    """Replicas a new revision starts with; >= 1 unless allow-zero-initial-scale."""
    allow_zero_initial_scale: bool = Field(False, alias="allow-zero-initial-scale")
    """Allow initial-scale 0."""
    min_scale: int = Field(0, alias="min-scale")
    """Cluster-wide default min scale."""
    max_scale: int = Field(0, alias="max-scale")
    """Cluster-wide default max scale; 0 = unlimited."""
    scale_down_delay: Duration = Field(0.0, alias="scale-down-delay")
    """Hold the highest recent desired scale this long before scaling down; [0s, 1h]."""
    max_scale_limit: int = Field(100, alias="max-scale-limit")
    """Upper bound for any max-scale (Knative's ``max-scale-limit``; 0 = none).

    Knative's default is 0; minikn's is 100 because every replica is a process or container on one
    machine: a revision that may scale without bound (or a ``minReplicas`` of 2^31-1) would take
    the laptop down before any request is answered. A revision with no max-scale (0, unlimited)
    is capped at this value, and admission refuses a min-scale, max-scale or initial-scale above
    it."""

    @field_validator("container_concurrency_target_percentage")
    @classmethod
    def _tu_range(cls, v: float) -> float:
        if not 0 < v <= 100:
            raise ValueError("must be in (0, 100]")
        return v

    @field_validator("stable_window")
    @classmethod
    def _window_range(cls, v: float) -> float:
        if not WINDOW_MIN <= v <= WINDOW_MAX or v != int(v):
            raise ValueError("must be between 6s and 1h, in whole seconds")
        return v

    @field_validator("panic_window_percentage")
    @classmethod
    def _panic_window(cls, v: float) -> float:
        if not 1.0 <= v <= 100.0:
            raise ValueError("must be in [1, 100]")
        return v

    @field_validator("max_scale_up_rate", "max_scale_down_rate")
    @classmethod
    def _rate(cls, v: float) -> float:
        if v <= 1.0:
            raise ValueError("must be greater than 1.0")
        return v

    @field_validator("scale_to_zero_grace_period")
    @classmethod
    def _grace(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be positive")
        return v

    @field_validator("scale_to_zero_pod_retention_period")
    @classmethod
    def _retention(cls, v: float) -> float:
        if v < 0:
            raise ValueError("must be non-negative")
        return v

    @field_validator("scale_down_delay")
    @classmethod
    def _delay(cls, v: float) -> float:
        if not 0 <= v <= WINDOW_MAX or v != int(v):
            raise ValueError("must be between 0s and 1h, in whole seconds")
        return v

    @field_validator("target_burst_capacity")
    @classmethod
    def _tbc(cls, v: float) -> float:
        if v < 0 and v != -1:
            raise ValueError("must be non-negative or -1 (unlimited)")
        return v

    @field_validator("activator_capacity")
    @classmethod
    def _activator_capacity(cls, v: float) -> float:
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @field_validator("pod_autoscaler_class")
    @classmethod
    def _class(cls, v: str) -> str:
        if v.endswith(".knative.dev") and v not in (KPA_CLASS, HPA_CLASS):
            raise ValueError(f"must be {KPA_CLASS} or {HPA_CLASS}")
        return v

    @field_validator("min_scale", "max_scale", "max_scale_limit")
    @classmethod
    def _non_negative(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be non-negative")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        tu = self.target_utilization
        if self.container_concurrency_target_default * tu < TARGET_MIN:
            raise ValueError(
                "container-concurrency-target-default x container-concurrency-target-percentage "
                f"must be at least {TARGET_MIN}"
            )
        if self.requests_per_second_target_default < TARGET_MIN:
            raise ValueError(f"requests-per-second-target-default must be at least {TARGET_MIN}")
        if self.initial_scale < 0 or (
            self.initial_scale == 0 and not self.allow_zero_initial_scale
        ):
            raise ValueError(
                "initial-scale must be at least 1 (0 only with allow-zero-initial-scale: true)"
            )
        if self.max_scale and self.min_scale > self.max_scale:
            raise ValueError("min-scale must not be greater than max-scale")
        if self.max_scale_limit and self.max_scale > self.max_scale_limit:
            # Knative's config.go: max-scale 0 (unlimited) stays valid; revisions are capped.
            raise ValueError(f"max-scale = {self.max_scale}, must be in [0, max-scale-limit] range")
        return self

    @property
    def target_utilization(self) -> float:
        """The percentage as a fraction (values <= 1.0 are already fractions, as Knative reads)."""
        pct = self.container_concurrency_target_percentage
        return pct if pct <= 1.0 else pct / 100.0

    @property
    def panic_window(self) -> float:
        """round(stable x pct / 100) seconds, at least 1 s (Knative's ``metric.go``); halves round
        up, as Go's ``Duration.Round`` does (65 s x 10 % -> 7 s)."""
        return max(1.0, float(int(self.stable_window * self.panic_window_percentage / 100.0 + 0.5)))
