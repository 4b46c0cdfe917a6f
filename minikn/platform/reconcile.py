"""Plan an ISVC's revisions and traffic from what the user asked and what replicas reported.

Pure: the controller calls these on a copy of its state and commits the copy only when every
document of an apply was accepted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from minikn.config import Settings
from minikn.core.errors import PermanentError
from minikn.core.revision import ComponentName, RevisionSpec
from minikn.core.routes import ComponentRoute, IsvcRoute
from minikn.platform.revisions import build_revision, component_hash
from minikn.platform.runtimes import RuntimeRegistry
from minikn.platform.state import ComponentState, IsvcState
from minikn.platform.status import compute_conditions, merge_conditions
from minikn.platform.traffic import settle
from minikn.platform.validate import Component, ComponentIntent

__all__ = ["Planned", "isvc_route", "live_revisions", "plan_component", "refresh"]

TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


@dataclass
class Planned:
    """What planning one component produced."""

    state: ComponentState
    created: list[RevisionSpec] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def _find(cs: ComponentState, digest: str) -> str | None:
    return next((r for r in reversed(cs.revisions) if cs.hashes.get(r) == digest), None)


def _ensure(
    planned: Planned,
    *,
    isvc: str,
    namespace: str,
    component: ComponentName,
    spec: Component,
    meta_annotations: Mapping[str, str],
    settings: Settings,
    registry: RuntimeRegistry,
    now: float,
    reuse_any: bool,
) -> str | None:
    cs = planned.state
    digest = component_hash(spec, meta_annotations)
    if reuse_any:
        found = _find(cs, digest)
        if found is not None:
            return found
    elif cs.latest_created is not None and cs.hashes.get(cs.latest_created) == digest:
        return cs.latest_created
    generation = cs.generation + 1
    try:
        rev = build_revision(
            isvc=isvc,
            namespace=namespace,
            component=component,
            spec=spec,
            meta_annotations=meta_annotations,
            generation=generation,
            settings=settings,
            registry=registry,
            created_at=now,
        )
    except PermanentError as exc:  # NoSupportingRuntime: a status condition, not a refusal
        if exc.reason is None or exc.status == 400:
            raise
        planned.errors.append((exc.reason, exc.message))
        return None
    cs.generation = generation
    cs.revisions.append(rev.name)
    cs.hashes[rev.name] = digest
    cs.latest_created = rev.name
    planned.created.append(rev)
    return rev.name


def plan_component(
    old: ComponentState | None,
    *,
    isvc: str,
    namespace: str,
    component: ComponentName,
    intent: ComponentIntent,
    meta_annotations: Mapping[str, str],
    settings: Settings,
    registry: RuntimeRegistry,
    now: float,
) -> Planned:
    """New revisions for a changed spec (none when unchanged), canary share and v1alpha2 pin."""
    cs = old.model_copy(deep=True) if old is not None else ComponentState()
    cs.error_reason = cs.error_message = None
    planned = Planned(cs)
    common = {
        "isvc": isvc,
        "namespace": namespace,
        "component": component,
        "meta_annotations": meta_annotations,
        "settings": settings,
        "registry": registry,
        "now": now,
    }
    cs.pinned_stable = None
    if intent.stable is not None:
        cs.pinned_stable = _ensure(planned, spec=intent.stable, reuse_any=True, **common)  # type: ignore[arg-type]
    _ensure(planned, spec=intent.spec, reuse_any=False, **common)  # type: ignore[arg-type]
    if planned.errors:
        cs.error_reason, cs.error_message = planned.errors[-1]
    cs.canary_percent = intent.canary_percent
    return planned


def _latest_ready(cs: ComponentState, ready: Collection[str]) -> str | None:
    return next((r for r in reversed(cs.revisions) if r in ready), None)


def refresh(
    isvc: IsvcState, *, ready: Collection[str], failures: Mapping[str, tuple[str, str]], now: float
) -> None:
    """Recompute latestReady, traffic, rolled-out revisions and conditions, in place."""
    tag_routing = isvc.tag_routing
    for cs in isvc.components.values():
        rollout = replace(cs.rollout(), latest_ready=_latest_ready(cs, ready))
        if cs.pinned_stable is not None and rollout.latest_rolledout != cs.pinned_stable:
            rollout = replace(
                rollout,
                previous_rolledout=rollout.latest_rolledout,
                latest_rolledout=cs.pinned_stable,
            )
        rollout, traffic = settle(
            rollout, canary_percent=cs.canary_percent, tag_routing=tag_routing
        )
        cs.latest_ready = rollout.latest_ready
        cs.latest_rolledout = rollout.latest_rolledout
        cs.previous_rolledout = rollout.previous_rolledout
        cs.traffic = list(traffic)
    isvc.conditions = merge_conditions(isvc.conditions, compute_conditions(isvc, failures), now)


def live_revisions(isvc: IsvcState) -> tuple[set[str], set[str]]:
    """(live, routable): live = in traffic, latest created or pinned; routable = share or tag."""
    live: set[str] = set()
    routable: set[str] = set()
    for cs in isvc.components.values():
        for t in cs.traffic:
            live.add(t.revision)
            if t.percent > 0 or t.tag:
                routable.add(t.revision)
        live.update(r for r in (cs.latest_created, cs.pinned_stable) if r is not None)
    return live, routable


def isvc_route(isvc: IsvcState) -> IsvcRoute:
    return IsvcRoute(
        name=isvc.name,
        namespace=isvc.namespace,
        components=tuple(
            ComponentRoute(component=name, targets=tuple(cs.traffic))
            for name, cs in sorted(isvc.components.items())
        ),
        model_names=(isvc.name,),
    )
