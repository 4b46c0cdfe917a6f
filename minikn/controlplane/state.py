"""The control plane's persistent state: applied ISVCs, their revisions and rollout bookkeeping."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from minikn.controlplane.traffic import Rollout
from minikn.core.revision import ComponentName, RevisionSpec
from minikn.core.routes import TrafficTarget

__all__ = ["ComponentState", "Condition", "IsvcState", "PlaneState", "isvc_key"]

STATE_VERSION = 1


def isvc_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_Model):
    """A Knative-style condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: float = 0.0
    """Wall-clock Unix seconds."""


class ComponentState(_Model):
    """One component's revisions and rollout (KServe's ComponentStatusSpec, plus what drives it)."""

    revisions: list[str] = Field(default_factory=list)
    """Every revision created for the component, oldest first."""
    hashes: dict[str, str] = Field(default_factory=dict)
    """Revision name -> digest of the spec it was built from."""
    generation: int = 0
    latest_created: str | None = None
    latest_ready: str | None = None
    latest_rolledout: str | None = None
    previous_rolledout: str | None = None
    canary_percent: int | None = None
    pinned_stable: str | None = None
    """v1alpha2: the default endpoint's revision, held as the rolled-out one."""
    error_reason: str | None = None
    """Why the latest spec has no revision (NoSupportingRuntime)."""
    error_message: str | None = None
    traffic: list[TrafficTarget] = Field(default_factory=list)

    def rollout(self) -> Rollout:
        return Rollout(
            latest_created=self.latest_created,
            latest_ready=self.latest_ready,
            latest_rolledout=self.latest_rolledout,
            previous_rolledout=self.previous_rolledout,
        )


class IsvcState(_Model):
    name: str
    namespace: str = "default"
    api_version: str
    doc: dict[str, Any]
    """The document as the user applied it."""
    created_at: float
    updated_at: float
    generation: int = 1
    tag_routing: bool = False
    components: dict[ComponentName, ComponentState] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return isvc_key(self.namespace, self.name)


class PlaneState(_Model):
    """Everything persisted, in one JSON document."""

    version: int = STATE_VERSION
    isvcs: dict[str, IsvcState] = Field(default_factory=dict)
    revisions: dict[str, RevisionSpec] = Field(default_factory=dict)
    ready: list[str] = Field(default_factory=list)
    """Revisions that have had a ready replica (sticky, like Knative's latestReadyRevision)."""
    failures: dict[str, tuple[str, str]] = Field(default_factory=dict)
    """Revision -> (reason, message) while a failure holds."""
    runtimes: list[dict[str, Any]] = Field(default_factory=list)
    """ServingRuntime documents applied by users (re-added to the registry on start)."""
