"""Typed, frozen platform settings: every default in one place, validated on load."""

from minikn.config.autoscaler import AutoscalerConfig
from minikn.config.knative import DefaultsConfig, DeploymentConfig, NetworkConfig
from minikn.config.kserve import InferenceServiceConfig
from minikn.config.loader import ConfigError, Settings, load_settings
from minikn.config.minikn import MiniknConfig

__all__ = [
    "AutoscalerConfig",
    "ConfigError",
    "DefaultsConfig",
    "DeploymentConfig",
    "InferenceServiceConfig",
    "MiniknConfig",
    "NetworkConfig",
    "Settings",
    "load_settings",
]
