"""Knative's ``config-defaults``, ``config-network``, ``config-deployment`` and
``config-observability`` groups.

Sources: knative/serving ``config/core/configmaps/``: defaults, network, deployment and
observability ``.yaml``.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from minikn.config.types import ConfigGroup, Duration

__all__ = ["DefaultsConfig", "DeploymentConfig", "NetworkConfig", "ObservabilityConfig"]


class DefaultsConfig(ConfigGroup):
    """``config-defaults``."""

    revision_timeout_seconds: int = Field(300, alias="revision-timeout-seconds", ge=1)
    """Default request timeout of a revision (the component's ``timeout``)."""
    max_revision_timeout_seconds: int = Field(600, alias="max-revision-timeout-seconds", ge=1)
    """Largest ``timeout`` a component may ask for."""
    container_concurrency: int = Field(0, alias="container-concurrency", ge=0)
    """Default ``containerConcurrency``; 0 = unlimited."""
    container_concurrency_max_limit: int = Field(
        1000, alias="container-concurrency-max-limit", ge=1
    )
    """Largest ``containerConcurrency`` allowed."""
    allow_container_concurrency_zero: bool = Field(True, alias="allow-container-concurrency-zero")
    """Whether ``containerConcurrency: 0`` (unlimited) is allowed."""

    @model_validator(mode="after")
    def _timeouts(self) -> Self:
        if self.revision_timeout_seconds > self.max_revision_timeout_seconds:
            raise ValueError(
                "revision-timeout-seconds must not be greater than max-revision-timeout-seconds"
            )
        return self


class NetworkConfig(ConfigGroup):
    """``config-network``."""

    domain_template: str = Field("{{.Name}}.{{.Namespace}}.{{.Domain}}", alias="domain-template")
    """Template of a route's host."""
    tag_template: str = Field("{{.Tag}}-{{.Name}}", alias="tag-template")
    """Template of a tagged target's name."""
    rollout_duration: Duration = Field(0.0, alias="rollout-duration")
    """Gradual rollout duration; 0 = off."""


class DeploymentConfig(ConfigGroup):
    """``config-deployment``."""

    progress_deadline: Duration = Field(600.0, alias="progress-deadline", gt=0)
    """How long a revision may take to become ready before it is failed and scaled to zero."""


class ObservabilityConfig(ConfigGroup):
    """``config-observability``: the tracing keys (Knative's OpenTelemetry-based ones)."""

    tracing_protocol: Literal["none", "grpc", "http/protobuf"] = Field(
        "none", alias="tracing-protocol"
    )
    """How spans are exported over OTLP; ``none`` turns tracing off (no cost on the data path)."""
    tracing_endpoint: str = Field("", alias="tracing-endpoint", max_length=2048)
    """The OTLP collector: ``http://host:4318/v1/traces`` for http/protobuf, ``host:4317`` for
    grpc."""
    tracing_sampling_rate: float = Field(0.0, alias="tracing-sampling-rate", ge=0.0, le=1.0)
    """The share of new traces recorded (a caller's sampled flag is followed)."""

    @model_validator(mode="after")
    def _endpoint(self) -> Self:
        if self.tracing_protocol != "none" and not self.tracing_endpoint:
            raise ValueError(f"tracing-protocol {self.tracing_protocol} needs a tracing-endpoint")
        return self
