"""The control plane's state in memory: applied ISVCs, their revisions and rollout bookkeeping.

What is saved is only what cannot be derived (``persisted.py`` holds the file format):

============================================  ===================================================
field                                         on load
============================================  ===================================================
``IsvcState.doc``, ``created_at``,            saved (what the user applied, and history)
``updated_at``, ``generation``,
``conditions``, ``admitted``
``IsvcState.name``/``namespace``/             derived from ``doc`` as admission does
``api_version``/``tag_routing``
``ComponentState.revisions``                  derived: ``<isvc>-<component>-<n>`` for n = 1..count
``ComponentState.hashes``                     saved as one digest per revision, oldest first
``generation``, ``latest_created``            properties of ``revisions``
``latest_rolledout``, ``previous_rolledout``  saved (rollout history)
``canary_percent``, ``pinned_stable``,        saved (decided at apply time, against the runtimes
``error_reason``, ``error_message``           and settings of that time)
``latest_ready``, ``traffic``                 recomputed by ``reconcile.refresh`` on start
``PlaneState.revisions``                      saved as a list (the key is each spec's name)
``ready``, ``failures``, ``runtimes``         saved (replica reports and user documents)
============================================  ===================================================
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from minikn.controlplane.traffic import Rollout
from minikn.core.revision import ComponentName, RevisionSpec
from minikn.core.routes import TrafficTarget

__all__ = ["ComponentState", "Condition", "IsvcState", "PlaneState", "isvc_key"]


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

    @property
    def generation(self) -> int:
        """How many revisions the component has had (the last one's number)."""
        return len(self.revisions)

    @property
    def latest_created(self) -> str | None:
        return self.revisions[-1] if self.revisions else None

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
    deployment_mode: str = "Knative"
    """KServe's ``status.deploymentMode``: Knative or Standard, fixed at creation."""
    tag_routing: bool = False
    components: dict[ComponentName, ComponentState] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)
    admitted: str | None = None
    """The fingerprint of the admission rules ``doc`` was accepted under (``quarantine.
    admission_rules``); None: not known to pass today's rules (validated again at start)."""

    @property
    def key(self) -> str:
        return isvc_key(self.namespace, self.name)


class PlaneState(_Model):
    """Everything the control plane keeps (saved by ``persisted.py``, in one JSON document)."""

    isvcs: dict[str, IsvcState] = Field(default_factory=dict)
    revisions: dict[str, RevisionSpec] = Field(default_factory=dict)
    ready: set[str] = Field(default_factory=set)
    """Revisions that have had a ready replica (sticky, like Knative's latestReadyRevision)."""
    failures: dict[str, tuple[str, str]] = Field(default_factory=dict)
    """Revision -> (reason, message) while a failure holds."""
    runtimes: list[dict[str, Any]] = Field(default_factory=list)
    """ServingRuntime documents applied by users (re-added to the registry on start)."""
