"""Conditions and the KServe-shaped ``status`` of an ISVC (pure)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from minikn.config import Settings
from minikn.controlplane.state import ComponentState, Condition, IsvcState
from minikn.core.revision import ComponentName

__all__ = ["Computed", "compute_conditions", "merge_conditions", "render_status", "rfc3339"]

COMPONENT_CONDITION: dict[ComponentName, str] = {
    "predictor": "PredictorReady",
    "transformer": "TransformerReady",
    "explainer": "ExplainerReady",
    "router": "RouterReady",
}
Status = Literal["True", "False", "Unknown"]


@functools.lru_cache(maxsize=4096)
def rfc3339(ts: float) -> str:
    """``ts`` as Kubernetes writes times (cached: a list renders the same few times again)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Computed(NamedTuple):
    """A condition as computed, before ``merge_conditions`` stamps its transition time (a
    tuple: a refresh of 10,000 ISVCs builds 40,000 of them and keeps the few that changed)."""

    type: str
    status: Status
    reason: str | None = None
    message: str | None = None


def _condition(
    *, type: str, status: Status, reason: str | None = None, message: str | None = None
) -> Computed:
    return Computed(type, status, reason, message)


def _component_condition(
    ctype: str, cs: ComponentState, failures: Mapping[str, tuple[str, str]]
) -> Computed:
    if cs.error_reason:
        return _condition(
            type=ctype, status="False", reason=cs.error_reason, message=cs.error_message
        )
    latest = cs.latest_created
    if latest is not None and latest in failures:
        reason, message = failures[latest]
        return _condition(type=ctype, status="False", reason=reason, message=f"{latest}: {message}")
    if latest is not None and cs.latest_ready == latest and cs.traffic:
        return _condition(type=ctype, status="True")
    if latest is None:
        return _condition(type=ctype, status="Unknown", reason="RevisionMissing")
    return _condition(
        type=ctype,
        status="Unknown",
        reason="RevisionNotReady",
        message=f"Revision {latest} is not ready yet",
    )


def compute_conditions(isvc: IsvcState, failures: Mapping[str, tuple[str, str]]) -> list[Computed]:
    """Conditions without transition times (``merge_conditions`` stamps them)."""
    out = [
        _component_condition(COMPONENT_CONDITION[name], cs, failures)
        for name, cs in sorted(isvc.components.items())
    ]
    routed = all(cs.traffic for cs in isvc.components.values())
    ingress = _condition(
        type="IngressReady",
        status="True" if routed else "Unknown",
        reason=None if routed else "RoutesNotReady",
        message=None if routed else "waiting for a ready revision of every component",
    )
    out.append(ingress)
    failed = next((c for c in out if c.status == "False"), None)
    if failed is not None:
        ready = _condition(
            type="Ready", status="False", reason=failed.reason, message=failed.message
        )
    elif all(c.status == "True" for c in out):
        ready = _condition(type="Ready", status="True")
    else:
        waiting = next(c for c in out if c.status == "Unknown")
        ready = _condition(
            type="Ready", status="Unknown", reason=waiting.reason, message=waiting.message
        )
    out.append(ready)
    return out


def merge_conditions(
    old: Collection[Condition], new: list[Computed], now: float
) -> list[Condition]:
    """Keep a condition's lastTransitionTime unless its status changed.

    An unchanged condition is the old object (conditions are never changed in place); a new or
    changed one is built without validation (``new``'s fields are valid): a refresh of thousands
    of ISVCs is most of an apply otherwise."""
    before = {c.type: c for c in old}
    merged = []
    for c in new:
        prev = before.get(c.type)
        if prev is None or prev.status != c.status:
            stamp = now
        elif prev.reason == c.reason and prev.message == c.message:
            merged.append(prev)
            continue
        else:
            stamp = prev.last_transition_time
        merged.append(
            Condition.model_construct(
                type=c.type,
                status=c.status,
                reason=c.reason,
                message=c.message,
                last_transition_time=stamp,
            )
        )
    return merged


def _host(name: str, namespace: str, domain: str) -> str:
    return f"{name}.{namespace}.{domain}"


def _component_status(
    isvc: IsvcState, name: ComponentName, cs: ComponentState, settings: Settings
) -> dict[str, Any]:
    scheme = settings.kserve.ingress.url_scheme
    domain = settings.kserve.ingress.ingress_domain
    svc = f"{isvc.name}-{name}"
    out: dict[str, Any] = {
        "url": f"{scheme}://{_host(svc, isvc.namespace, domain)}",
        "address": {"url": f"http://{svc}.{isvc.namespace}.svc.cluster.local"},
    }
    for key, value in (
        ("latestCreatedRevision", cs.latest_created),
        ("latestReadyRevision", cs.latest_ready),
        ("latestRolledoutRevision", cs.latest_rolledout),
        ("previousRolledoutRevision", cs.previous_rolledout),
    ):
        if value:
            out[key] = value
    traffic = []
    for t in cs.traffic:
        entry: dict[str, Any] = {
            "revisionName": t.revision,
            "percent": t.percent,
            "latestRevision": t.latest,
        }
        if t.tag:
            entry["tag"] = t.tag
            entry["url"] = f"{scheme}://{_host(f'{t.tag}-{svc}', isvc.namespace, domain)}"
        traffic.append(entry)
    out["traffic"] = traffic
    return out


def render_status(isvc: IsvcState, settings: Settings) -> dict[str, Any]:
    """``status`` as KServe writes it."""
    scheme = settings.kserve.ingress.url_scheme
    domain = settings.kserve.ingress.ingress_domain
    return {
        "url": f"{scheme}://{_host(isvc.name, isvc.namespace, domain)}",
        "address": {"url": f"http://{isvc.name}.{isvc.namespace}.svc.cluster.local"},
        "components": {
            name: _component_status(isvc, name, cs, settings)
            for name, cs in sorted(isvc.components.items())
        },
        "conditions": [
            {
                "type": c.type,
                "status": c.status,
                **({"reason": c.reason} if c.reason else {}),
                **({"message": c.message} if c.message else {}),
                "lastTransitionTime": rfc3339(c.last_transition_time),
            }
            for c in isvc.conditions
        ],
        "observedGeneration": isvc.generation,
        "deploymentMode": isvc.deployment_mode,
    }
