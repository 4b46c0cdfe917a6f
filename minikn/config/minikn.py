"""minikn's own settings (group ``minikn``): what has no Knative or KServe key."""

from __future__ import annotations

from pydantic import Field

from minikn.config.api import ApiConfig
from minikn.config.local import ActivatorConfig, ReplicasConfig, ServerConfig, StorageConfig
from minikn.config.router import RouterConfig
from minikn.config.types import ConfigGroup

__all__ = ["MiniknConfig"]


class MiniknConfig(ConfigGroup):
    """Group ``minikn``."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    activator: ActivatorConfig = Field(default_factory=ActivatorConfig)
    router: RouterConfig = Field(default_factory=RouterConfig)
    replicas: ReplicasConfig = Field(default_factory=ReplicasConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
