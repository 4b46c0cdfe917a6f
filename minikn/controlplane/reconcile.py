"""Plan an ISVC's revisions and traffic from what the user asked and what replicas reported.

Pure: the controller calls these on a copy of its state and commits the copy only when every
document of an apply was accepted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from minikn.api.deploy_mode import deployment_mode
from minikn.api.runtimes import NoSupportingRuntime, RuntimeRegistry
from minikn.api.validate import Component, ComponentIntent
from minikn.config import Settings
from minikn.controlplane.revisions import build_revision, component_hash
from minikn.controlplane.state import ComponentState, IsvcState
from minikn.controlplane.status import compute_conditions, merge_conditions
from minikn.controlplane.traffic import settle
from minikn.core.revision import ComponentName, RevisionSpec
from minikn.core.routes import ComponentRoute, IsvcRoute, TrafficTarget

__all__ = [
    "PlanContext",
    "Planned",
    "isvc_route",
    "live_revisions",
    "plan_component",
    "refresh",
    "route_targets",
]

TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


@dataclass
class Planned:
    """What planning one component produced."""

    state: ComponentState
    created: list[RevisionSpec] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def _find(cs: ComponentState, digest: str) -> str | None:
    return next((r for r in reversed(cs.revisions) if cs.hashes.get(r) == digest), None)


@dataclass(frozen=True)
class PlanContext:
    """Everything a component's revisions are built from besides its spec."""

    isvc: str
    namespace: str
    meta_annotations: Mapping[str, str]
    settings: Settings
    registry: RuntimeRegistry
    now: float


def _ensure(
    planned: Planned,
    ctx: PlanContext,
    component: ComponentName,
    spec: Component,
    *,
    reuse_any: bool,
    digest: str | None = None,
) -> str | None:
    """The revision for ``spec``: an existing one when nothing changed, else a new one.

    ``reuse_any`` matches any earlier revision (v1alpha2's default endpoint); otherwise only the
    latest one counts, as in Knative (going back to an old spec makes a new revision).
    """
    cs = planned.state
    if digest is None:
        digest = component_hash(spec, ctx.meta_annotations)
    if reuse_any:
        found = _find(cs, digest)
        if found is not None:
            return found
    elif cs.latest_created is not None and cs.hashes.get(cs.latest_created) == digest:
        return cs.latest_created
    generation = cs.generation + 1
    try:
        rev = build_revision(
            isvc=ctx.isvc,
            namespace=ctx.namespace,
            component=component,
            spec=spec,
            meta_annotations=ctx.meta_annotations,
            generation=generation,
            settings=ctx.settings,
            registry=ctx.registry,
            created_at=ctx.now,
        )
    except NoSupportingRuntime as exc:  # a status condition, not a refusal (as in KServe)
        planned.errors.append((exc.reason or "NoSupportingRuntime", exc.message))
        return None
    cs.revisions.append(rev.name)  # now the latest created, and cs.generation == generation
    cs.hashes[rev.name] = digest
    planned.created.append(rev)
    return rev.name


def plan_component(
    old: ComponentState | None, ctx: PlanContext, component: ComponentName, intent: ComponentIntent
) -> Planned:
    """New revisions for a changed spec (none when unchanged), canary share and v1alpha2 pin."""
    cs = old.model_copy(deep=True) if old is not None else ComponentState()
    cs.error_reason = cs.error_message = None
    planned = Planned(cs)
    cs.pinned_stable = None
    if intent.stable is not None:
        cs.pinned_stable = _ensure(
            planned, ctx, component, intent.stable, reuse_any=True, digest=intent.stable_hash
        )
    _ensure(planned, ctx, component, intent.spec, reuse_any=False, digest=intent.spec_hash)
    if planned.errors:
        cs.error_reason, cs.error_message = planned.errors[-1]
    # Standard (raw) mode has no revision traffic split: KServe ignores canaryTrafficPercent.
    standard = (
        deployment_mode(ctx.meta_annotations, ctx.settings.kserve.deploy.default_deployment_mode)
        == "Standard"
    )
    cs.canary_percent = None if standard else intent.canary_percent
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


def route_targets(cs: ComponentState) -> tuple[TrafficTarget, ...]:
    """Where the router sends a component's requests: its traffic, or, while no revision of the
    component was ever ready, its latest created revision (the activator buffers the requests
    until that revision's first replica is ready, or answers 503 with the reason if it fails).

    Knative routes a configuration's traffic to its latest revision from the start; KServe's
    status shows no traffic until a revision is ready, so ``cs.traffic`` (the status) stays empty
    and only the route carries this target. A component whose latest spec was refused
    (``error_reason``) gets no such route.
    """
    if cs.traffic or cs.latest_created is None or cs.error_reason is not None:
        return tuple(cs.traffic)
    return (TrafficTarget(revision=cs.latest_created, percent=100, latest=True),)


def live_revisions(isvc: IsvcState) -> tuple[set[str], set[str]]:
    """(live, routable): live = routed, latest created or pinned; routable = share or tag."""
    live: set[str] = set()
    routable: set[str] = set()
    for cs in isvc.components.values():
        for t in route_targets(cs):
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
            ComponentRoute(component=name, targets=route_targets(cs))
            for name, cs in sorted(isvc.components.items())
        ),
        model_names=(isvc.name,),
    )
