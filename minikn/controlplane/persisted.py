"""The state file's format: only what cannot be derived, and readers for every version written.

Version 2 (written now) keeps, per ISVC, the applied document, its history (times, generation,
conditions) and, per component, one spec digest per revision plus the rollout decisions; the
revision names, the latest created revision, the ISVC's identity and its tag routing are derived
on load (``state.py`` lists every field). Between snapshots, changes are journaled one line per
change (:class:`Change`: the touched ISVCs whole, with their revisions), so a change costs what it
touched, not the whole state; the snapshot names the journal generation that follows it.
Version 1 (minikn before this format) saved the whole in-memory state; it is still read, and
written back as version 2 by the next snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from minikn.api.convert import V1BETA1
from minikn.controlplane.reconcile import TAG_ROUTING
from minikn.controlplane.revisions import revision_name
from minikn.controlplane.state import ComponentState, Condition, IsvcState, PlaneState
from minikn.core.revision import ComponentName, RevisionSpec
from minikn.core.routes import TrafficTarget

__all__ = [
    "STATE_VERSION",
    "Change",
    "decode",
    "encode",
    "encode_change",
    "isvc_identity",
    "parse_snapshot",
    "parse_state",
    "replay",
]

STATE_VERSION: Literal[2] = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- version 2 ---------------------------------------------------------------------------------


class StoredComponent(_Model):
    digests: list[str] = Field(default_factory=list)
    """The spec digest of each revision, oldest first: revision n is ``digests[n - 1]``."""
    latest_rolledout: str | None = None
    previous_rolledout: str | None = None
    canary_percent: int | None = None
    pinned_stable: str | None = None
    error_reason: str | None = None
    error_message: str | None = None


class StoredIsvc(_Model):
    doc: dict[str, Any]
    created_at: float
    updated_at: float
    generation: int = 1
    deployment_mode: str = "Knative"
    """``status.deploymentMode`` as recorded at creation (an update may not change it)."""
    components: dict[ComponentName, StoredComponent] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)
    admitted: str | None = None
    """The admission rules' fingerprint ``doc`` passed (None: validated again at start)."""


class StoredPlane(_Model):
    version: Literal[2] = STATE_VERSION
    journal: int = 0
    """The generation of the journal that follows this snapshot (``journal-<n>.jsonl``); a
    journal of another generation is left over from before a compaction and is not read."""
    isvcs: list[StoredIsvc] = Field(default_factory=list)
    revisions: list[RevisionSpec] = Field(default_factory=list)
    ready: list[str] = Field(default_factory=list)
    """Sorted."""
    failures: dict[str, tuple[str, str]] = Field(default_factory=dict)
    runtimes: list[dict[str, Any]] = Field(default_factory=list)


class StoredRecord(_Model):
    """One ISVC as the journal keeps it: the ISVC plus its revisions and their reports."""

    isvc: StoredIsvc
    revisions: list[RevisionSpec] = Field(default_factory=list)
    ready: list[str] = Field(default_factory=list)
    failures: dict[str, tuple[str, str]] = Field(default_factory=dict)


class Change(_Model):
    """One journal line: ISVCs as they are now, ISVCs deleted, and the runtimes when changed."""

    put: list[StoredRecord] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    """``namespace/name`` keys."""
    runtimes: list[dict[str, Any]] | None = None


# --- version 1: the in-memory state as it was, saved whole (read only) --------------------------


class _V1Component(_Model):
    revisions: list[str] = Field(default_factory=list)
    hashes: dict[str, str] = Field(default_factory=dict)
    generation: int = 0
    latest_created: str | None = None
    latest_ready: str | None = None
    latest_rolledout: str | None = None
    previous_rolledout: str | None = None
    canary_percent: int | None = None
    pinned_stable: str | None = None
    error_reason: str | None = None
    error_message: str | None = None
    traffic: list[TrafficTarget] = Field(default_factory=list)


class _V1Isvc(_Model):
    name: str
    namespace: str = "default"
    api_version: str
    doc: dict[str, Any]
    created_at: float
    updated_at: float
    generation: int = 1
    tag_routing: bool = False
    components: dict[ComponentName, _V1Component] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)


class _V1Plane(_Model):
    version: Literal[1] = 1
    isvcs: dict[str, _V1Isvc] = Field(default_factory=dict)
    revisions: dict[str, RevisionSpec] = Field(default_factory=dict)
    ready: list[str] = Field(default_factory=list)
    failures: dict[str, tuple[str, str]] = Field(default_factory=dict)
    runtimes: list[dict[str, Any]] = Field(default_factory=list)


def _upgrade_v1(old: _V1Plane) -> StoredPlane:
    """Keep what version 2 keeps; the rest is derived again on decode."""
    return StoredPlane(
        isvcs=[
            StoredIsvc(
                doc=i.doc,
                created_at=i.created_at,
                updated_at=i.updated_at,
                generation=i.generation,
                components={
                    name: StoredComponent(
                        digests=[cs.hashes[r] for r in cs.revisions],
                        latest_rolledout=cs.latest_rolledout,
                        previous_rolledout=cs.previous_rolledout,
                        canary_percent=cs.canary_percent,
                        pinned_stable=cs.pinned_stable,
                        error_reason=cs.error_reason,
                        error_message=cs.error_message,
                    )
                    for name, cs in i.components.items()
                },
                conditions=i.conditions,
            )
            for i in old.isvcs.values()
        ],
        revisions=list(old.revisions.values()),
        ready=sorted(old.ready),
        failures=old.failures,
        runtimes=old.runtimes,
    )


_ANY_VERSION: TypeAdapter[StoredPlane | _V1Plane] = TypeAdapter(
    Annotated[StoredPlane | _V1Plane, Field(discriminator="version")]
)


# --- in memory <-> stored ------------------------------------------------------------------------


def isvc_identity(doc: dict[str, Any]) -> tuple[str, str, str, bool]:
    """(name, namespace, apiVersion, tag routing) of an admitted document, as admission read them.

    Admission (``validate.parse_isvc``) stores the document only when metadata.name is valid, and
    the API sets metadata.namespace; v1alpha2 conversion keeps the metadata as it is.
    """
    meta = doc.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return (
        str(meta["name"]),
        str(meta.get("namespace") or "default"),
        str(doc.get("apiVersion") or V1BETA1),
        str(annotations.get(TAG_ROUTING, "")).lower() == "true",
    )


def _decode_component(isvc: str, component: ComponentName, sc: StoredComponent) -> ComponentState:
    revisions = [revision_name(isvc, component, n) for n in range(1, len(sc.digests) + 1)]
    return ComponentState.model_construct(
        revisions=revisions,
        hashes=dict(zip(revisions, sc.digests, strict=True)),
        latest_ready=None,
        latest_rolledout=sc.latest_rolledout,
        previous_rolledout=sc.previous_rolledout,
        canary_percent=sc.canary_percent,
        pinned_stable=sc.pinned_stable,
        error_reason=sc.error_reason,
        error_message=sc.error_message,
        traffic=[],  # every field given: pydantic's model_construct inspects default factories
    )


def _decode_isvc(si: StoredIsvc) -> IsvcState:
    name, namespace, api_version, tag_routing = isvc_identity(si.doc)
    return IsvcState.model_construct(
        name=name,
        namespace=namespace,
        api_version=api_version,
        doc=si.doc,
        created_at=si.created_at,
        updated_at=si.updated_at,
        generation=si.generation,
        deployment_mode=si.deployment_mode,
        tag_routing=tag_routing,
        components={c: _decode_component(name, c, sc) for c, sc in si.components.items()},
        conditions=si.conditions,
        admitted=si.admitted,
    )


def decode(stored: StoredPlane) -> PlaneState:
    """The in-memory state, less what ``reconcile.refresh`` recomputes (latestReady, traffic)."""
    isvcs = [_decode_isvc(si) for si in stored.isvcs]
    return PlaneState.model_construct(
        isvcs={i.key: i for i in isvcs},
        revisions={r.name: r for r in stored.revisions},
        ready=set(stored.ready),
        failures=stored.failures,
        runtimes=stored.runtimes,
    )


def _encode_component(cs: ComponentState) -> StoredComponent:
    return StoredComponent.model_construct(
        digests=[cs.hashes[r] for r in cs.revisions],
        latest_rolledout=cs.latest_rolledout,
        previous_rolledout=cs.previous_rolledout,
        canary_percent=cs.canary_percent,
        pinned_stable=cs.pinned_stable,
        error_reason=cs.error_reason,
        error_message=cs.error_message,
    )


def _stored_isvc(i: IsvcState) -> StoredIsvc:
    return StoredIsvc.model_construct(
        doc=i.doc,
        created_at=i.created_at,
        updated_at=i.updated_at,
        generation=i.generation,
        deployment_mode=i.deployment_mode,
        components={c: _encode_component(cs) for c, cs in i.components.items()},
        conditions=i.conditions,
        admitted=i.admitted,
    )


def encode_change(state: PlaneState, keys: Iterable[str], *, runtimes: bool = False) -> Change:
    """The journal line that makes a saved state equal ``state`` for ``keys`` (an ISVC key
    absent from ``state`` is a delete) and, with ``runtimes``, for the runtimes."""
    put: list[StoredRecord] = []
    deleted: list[str] = []
    for key in sorted(keys):
        isvc = state.isvcs.get(key)
        if isvc is None:
            deleted.append(key)
            continue
        names = [r for cs in isvc.components.values() for r in cs.revisions]
        put.append(
            StoredRecord.model_construct(
                isvc=_stored_isvc(isvc),
                revisions=[state.revisions[r] for r in names if r in state.revisions],
                ready=sorted(r for r in names if r in state.ready),
                failures={r: state.failures[r] for r in names if r in state.failures},
            )
        )
    return Change.model_construct(
        put=put, deleted=deleted, runtimes=list(state.runtimes) if runtimes else None
    )


def _drop(state: PlaneState, key: str) -> None:
    old = state.isvcs.pop(key, None)
    if old is None:
        return
    for cs in old.components.values():
        for r in cs.revisions:
            state.revisions.pop(r, None)
            state.failures.pop(r, None)
            state.ready.discard(r)


def replay(state: PlaneState, change: Change) -> None:
    """Apply one journal line to ``state`` in place (replaying a line twice changes nothing)."""
    for key in change.deleted:
        _drop(state, key)
    for rec in change.put:
        isvc = _decode_isvc(rec.isvc)
        _drop(state, isvc.key)
        state.isvcs[isvc.key] = isvc
        state.revisions.update((spec.name, spec) for spec in rec.revisions)
        state.ready.update(rec.ready)
        state.failures.update(rec.failures)
    if change.runtimes is not None:
        state.runtimes = change.runtimes


def encode(state: PlaneState, *, journal: int = 0) -> StoredPlane:
    """What is saved of ``state`` (built without validation: ``state`` is valid already)."""
    return StoredPlane.model_construct(
        version=STATE_VERSION,
        journal=journal,
        isvcs=[_stored_isvc(i) for _, i in sorted(state.isvcs.items())],
        revisions=[spec for _, spec in sorted(state.revisions.items())],
        ready=sorted(state.ready),
        failures=dict(sorted(state.failures.items())),
        runtimes=state.runtimes,
    )


def parse_state(text: str | bytes) -> PlaneState:
    """Read a state file of any version written so far (pydantic's ValidationError if invalid)."""
    return parse_snapshot(text)[0]


def parse_snapshot(text: str | bytes) -> tuple[PlaneState, int]:
    """(state, journal generation that follows it) of a state file of any version."""
    stored = _ANY_VERSION.validate_json(text)
    if isinstance(stored, _V1Plane):
        stored = _upgrade_v1(stored)
    return decode(stored), stored.journal
