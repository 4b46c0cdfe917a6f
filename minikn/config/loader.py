"""Load the platform YAML into :class:`Settings`; errors name the key, the value and the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from minikn.config.autoscaler import AutoscalerConfig
from minikn.config.configmaps import groups_from_configmaps, is_configmap_list
from minikn.config.knative import (
    DefaultsConfig,
    DeploymentConfig,
    NetworkConfig,
    ObservabilityConfig,
)
from minikn.config.kserve import InferenceServiceConfig
from minikn.config.minikn import MiniknConfig
from minikn.config.paths import config_dir
from minikn.config.types import ConfigGroup

__all__ = ["ConfigError", "Settings", "default_config_path", "load_settings"]


class ConfigError(ValueError):
    """The platform configuration is invalid; the message names every bad key."""


class Settings(ConfigGroup):
    """All platform settings, one field per ConfigMap-style group."""

    autoscaler: AutoscalerConfig = Field(
        default_factory=AutoscalerConfig, alias="config-autoscaler"
    )
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig, alias="config-defaults")
    network: NetworkConfig = Field(default_factory=NetworkConfig, alias="config-network")
    deployment: DeploymentConfig = Field(
        default_factory=DeploymentConfig, alias="config-deployment"
    )
    observability: ObservabilityConfig = Field(
        default_factory=ObservabilityConfig, alias="config-observability"
    )
    kserve: InferenceServiceConfig = Field(
        default_factory=InferenceServiceConfig, alias="inferenceservice-config"
    )
    minikn: MiniknConfig = Field(default_factory=MiniknConfig)


def default_config_path() -> Path:
    """The shipped ``config/minikn.yaml`` beside the package (in a source checkout)."""
    return config_dir() / "minikn.yaml"


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
            lines.append(f"  {key}: {msg} (got {e.get('input')!r})")
    return "\n".join(lines)


def settings_from_mapping(data: Any, source: str = "<config>") -> Settings:
    """Validate a parsed YAML mapping."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid configuration in {source}: the top level must be a mapping")
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from exc


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from ``path``: minikn's one-document YAML, or the ConfigMaps ``minikn config
    export`` writes (a multi-document YAML); with no path, the built-in defaults."""
    if path is None:
        return Settings()
    p = Path(path)
    try:
        docs = list(yaml.safe_load_all(p.read_text()))
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid configuration in {p}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {p}: {exc.strerror}") from exc
    if is_configmap_list(docs):
        try:
            groups = groups_from_configmaps(docs)
        except ValueError as exc:
            raise ConfigError(f"invalid configuration in {p}: {exc}") from exc
        return settings_from_mapping(groups, str(p))
    if len(docs) > 1:
        raise ConfigError(
            f"invalid configuration in {p}: {len(docs)} YAML documents (one, or ConfigMaps)"
        )
    return settings_from_mapping(docs[0] if docs else None, str(p))
