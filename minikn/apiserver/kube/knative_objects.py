"""Knative's objects for one ISVC, as KServe's Serverless mode creates them (pure): per component
a Service, Configuration and Route named ``<isvc>-<component>``, and its Revisions.

Conditions follow Knative's: a Revision is Ready once a replica was (sticky; ``Active`` is False
with ``NoTraffic`` at zero), False with the replica's reason when it failed; a Configuration is
Ready when its latest created Revision is; a Route when it has traffic; a Service when both are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minikn.apiserver.kube.objects import derive_uid

__all__ = ["API_VERSION", "KINDS", "knative_objects"]

API_VERSION = "serving.knative.dev/v1"
KINDS = {
    "services": "Service",
    "configurations": "Configuration",
    "routes": "Route",
    "revisions": "Revision",
}
"""Each served resource (plural) and its kind."""

_SERVING = "serving.knative.dev/"
_KSERVE_ISVC = "serving.kserve.io/inferenceservice"


def _cond(
    ctype: str, status: str, when: str, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ctype, "status": status, "lastTransitionTime": when}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def _ready_from(parts: list[dict[str, Any]], when: str) -> dict[str, Any]:
    """Ready as Knative's condition set derives it: False if a part is, else the last Unknown."""
    failed = [c for c in parts if c["status"] == "False"]
    waiting = [c for c in parts if c["status"] == "Unknown"]
    if failed:
        return _cond("Ready", "False", when, failed[0].get("reason"), failed[0].get("message"))
    if waiting:
        return _cond("Ready", "Unknown", when, waiting[-1].get("reason"),
                     waiting[-1].get("message"))  # fmt: skip
    return _cond("Ready", "True", when)


def _owner(api_version: str, kind: str, name: str, uid: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
            "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    c = spec.get("container") or {}
    out: dict[str, Any] = {"name": "kserve-container"}
    if c.get("image"):
        out["image"] = c["image"]
    if c.get("command"):
        out["command"] = list(c["command"])
    if c.get("args"):
        out["args"] = list(c["args"])
    if c.get("env"):
        out["env"] = [{"name": k, "value": v} for k, v in c["env"]]
    out["ports"] = [{"containerPort": c.get("port", 8080), "protocol": "TCP"}]
    return [out]


def _traffic_spec(traffic: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in traffic:
        entry: dict[str, Any] = {"percent": t["percent"], "latestRevision": t["latestRevision"]}
        if not t["latestRevision"]:
            entry["revisionName"] = t["revisionName"]
        if t.get("tag"):
            entry["tag"] = t["tag"]
        out.append(entry)
    return out or [{"latestRevision": True, "percent": 100}]


def _revision_conditions(
    row: dict[str, Any], actual: int, when: str
) -> tuple[list[dict[str, Any]], str]:
    failure = row.get("failure")
    if failure:
        reason, message = failure["reason"], failure["message"]
        resources = _cond("ResourcesAvailable", "False", when, reason, message)
        health = _cond("ContainerHealthy", "False", when, reason, message)
    elif row["ready"]:
        resources = _cond("ResourcesAvailable", "True", when)
        health = _cond("ContainerHealthy", "True", when)
    else:
        resources = _cond("ResourcesAvailable", "Unknown", when, "Deploying")
        health = _cond("ContainerHealthy", "Unknown", when, "Deploying")
    if actual > 0:
        active = _cond("Active", "True", when)
    elif row["ready"] or not row["live"]:
        active = _cond("Active", "False", when, "NoTraffic",
                       "The target is not receiving traffic.")  # fmt: skip
    else:
        active = _cond("Active", "Unknown", when, "Deploying")
    ready = _ready_from([health, resources], when)
    routing = "active" if row["percent"] > 0 or row["tags"] else "reserve"
    return [active, health, ready, resources], routing


@dataclass(frozen=True)
class _Component:
    """One ISVC component's Knative identity: names, uids, labels, times, rows."""

    ns: str
    ksvc: str
    rv: str
    created: str
    when: str
    """The ISVC's Ready transition (the derived conditions' lastTransitionTime)."""
    labels: dict[str, str]
    uid: str
    """The ISVC's uid (the derived uids are made from it)."""
    rows: list[dict[str, Any]]
    status: dict[str, Any]
    live: dict[str, Any]

    @property
    def generation(self) -> int:
        return self.rows[-1]["generation"] if self.rows else 1

    @property
    def latest(self) -> dict[str, Any] | None:
        return self.rows[-1] if self.rows else None

    def uid_of(self, kind: str, name: str = "") -> str:
        return derive_uid(kind, self.ns, f"{name or self.ksvc}@{self.uid}", 0.0)

    def metadata(self, name: str, kind: str, owner: dict[str, Any], extra: dict[str, str],
                 *, gen: int | None = None, when: str = "") -> dict[str, Any]:  # fmt: skip
        return {
            "name": name,
            "namespace": self.ns,
            "uid": self.uid_of(kind, name),
            "resourceVersion": self.rv,
            "generation": self.generation if gen is None else gen,
            "creationTimestamp": when or self.created,
            "labels": {**self.labels, **extra},
            "ownerReferences": [owner],
        }

    @property
    def service_labels(self) -> dict[str, str]:
        return {_SERVING + "service": self.ksvc, _SERVING + "serviceUID": self.uid_of("Service")}

    def template(self) -> dict[str, Any]:
        latest = self.latest
        if latest is None:
            return {"metadata": {"labels": self.labels}, "spec": {"containers": []}}
        spec = latest["spec"]
        return {
            "metadata": {
                "annotations": dict(spec.get("annotations") or {}),
                "labels": {**self.labels, **(spec.get("labels") or {})},
            },
            "spec": _spec(spec),
        }

    def names(self) -> dict[str, str]:
        out = {}
        if self.status.get("latestCreatedRevision"):
            out["latestCreatedRevisionName"] = self.status["latestCreatedRevision"]
        if self.status.get("latestReadyRevision"):
            out["latestReadyRevisionName"] = self.status["latestReadyRevision"]
        return out

    def routed(self) -> dict[str, Any]:
        return {
            "url": self.status.get("url", ""),
            "address": {"url": f"http://{self.ksvc}.{self.ns}.svc.cluster.local"},
            "traffic": self.status.get("traffic") or [],
        }


def _configuration_ready(c: _Component) -> dict[str, Any]:
    latest = c.latest
    if latest is not None and latest.get("failure"):
        message = latest["failure"]["message"]
        return _cond("Ready", "False", c.when, "RevisionFailed",
                     f'Revision "{latest["name"]}" failed with message: {message}.')  # fmt: skip
    if latest is not None and latest["ready"]:
        return _cond("Ready", "True", c.when)
    return _cond("Ready", "Unknown", c.when)


def _route_conditions(c: _Component) -> list[dict[str, Any]]:
    if c.status.get("traffic"):
        parts = [_cond("AllTrafficAssigned", "True", c.when), _cond("IngressReady", "True", c.when)]
    else:
        why = f'Configuration "{c.ksvc}" is waiting for a Revision to become ready.'
        parts = [
            _cond("AllTrafficAssigned", "Unknown", c.when, "RevisionMissing", why),
            _cond("IngressReady", "Unknown", c.when, "RevisionMissing", why),
        ]
    parts.append(
        _cond("CertificateProvisioned", "True", c.when, "TLSNotEnabled", "autoTLS is not enabled")
    )
    return sorted([*parts, _ready_from(parts, c.when)], key=lambda x: x["type"])


def _service(c: _Component, isvc_owner: dict[str, Any]) -> dict[str, Any]:
    route_ready = next(x for x in _route_conditions(c) if x["type"] == "Ready")
    parts = [
        {**_configuration_ready(c), "type": "ConfigurationsReady"},
        {**route_ready, "type": "RoutesReady"},
    ]
    conditions = sorted([*parts, _ready_from(parts, c.when)], key=lambda x: x["type"])
    return {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": c.metadata(c.ksvc, "Service", isvc_owner, {}),
        "spec": {"template": c.template(), "traffic": _traffic_spec(c.routed()["traffic"])},
        "status": {"observedGeneration": c.generation, **c.names(), **c.routed(),
                   "conditions": conditions},
    }  # fmt: skip


def _configuration(c: _Component) -> dict[str, Any]:
    owner = _owner(API_VERSION, "Service", c.ksvc, c.uid_of("Service"))
    return {
        "apiVersion": API_VERSION,
        "kind": "Configuration",
        "metadata": c.metadata(c.ksvc, "Configuration", owner, c.service_labels),
        "spec": {"template": c.template()},
        "status": {"observedGeneration": c.generation, **c.names(),
                   "conditions": [_configuration_ready(c)]},
    }  # fmt: skip


def _route(c: _Component) -> dict[str, Any]:
    owner = _owner(API_VERSION, "Service", c.ksvc, c.uid_of("Service"))
    routed = c.routed()
    return {
        "apiVersion": API_VERSION,
        "kind": "Route",
        "metadata": c.metadata(c.ksvc, "Route", owner, c.service_labels, gen=1),
        "spec": {"traffic": [{k: v for k, v in t.items() if k != "url"}
                             for t in routed["traffic"]]},
        "status": {"observedGeneration": 1, **routed, "conditions": _route_conditions(c)},
    }  # fmt: skip


def _revision(c: _Component, row: dict[str, Any]) -> dict[str, Any]:
    replicas = (c.live.get(row["name"]) or {}).get("replicas") or {}
    actual, desired = int(replicas.get("ready", 0)), int(replicas.get("desired", 0))
    conditions, routing = _revision_conditions(row, actual, c.when)
    spec = row["spec"]
    labels = {
        **(spec.get("labels") or {}),
        **c.service_labels,
        _SERVING + "configuration": c.ksvc,
        _SERVING + "configurationGeneration": str(row["generation"]),
        _SERVING + "configurationUID": c.uid_of("Configuration"),
        _SERVING + "routingState": routing,
    }
    owner = _owner(API_VERSION, "Configuration", c.ksvc, c.uid_of("Configuration"))
    meta = c.metadata(row["name"], "Revision", owner, labels, gen=1, when=row.get("createdAt", ""))
    meta["annotations"] = dict(spec.get("annotations") or {})
    if routing == "active":
        meta["annotations"][_SERVING + "routes"] = c.ksvc
    return {
        "apiVersion": API_VERSION,
        "kind": "Revision",
        "metadata": meta,
        "spec": _spec(spec),
        "status": {"observedGeneration": 1, "conditions": conditions,
                   "actualReplicas": actual, "desiredReplicas": desired},
    }  # fmt: skip


def knative_objects(
    isvc: dict[str, Any], rows: list[dict[str, Any]], *, uid: str
) -> dict[str, list[dict[str, Any]]]:
    """The Services, Configurations, Routes and Revisions (by plural) of the ISVC ``isvc`` (as
    the API renders it, with ``metadata.resourceVersion``; ``uid`` its uid) whose revisions are
    ``rows`` (``Controller.revision_states``)."""
    meta, status = isvc.get("metadata", {}), isvc.get("status", {})
    name, ns = meta.get("name", ""), meta.get("namespace", "default")
    created = meta.get("creationTimestamp", "")
    ready = [c for c in status.get("conditions", []) if c.get("type") == "Ready"]
    isvc_owner = _owner(isvc.get("apiVersion", ""), "InferenceService", name, uid)
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in KINDS}
    for comp, cstatus in sorted((status.get("components") or {}).items()):
        c = _Component(
            ns=ns,
            ksvc=f"{name}-{comp}",
            rv=str(meta.get("resourceVersion", "")),
            created=created,
            when=ready[0].get("lastTransitionTime", created) if ready else created,
            labels={**(meta.get("labels") or {}), _KSERVE_ISVC: name, "component": comp},
            uid=uid,
            rows=sorted((r for r in rows if r["component"] == comp),
                        key=lambda r: r["generation"]),
            status=cstatus,
            live=status.get("revisions") or {},
        )  # fmt: skip
        out["services"].append(_service(c, isvc_owner))
        out["configurations"].append(_configuration(c))
        out["routes"].append(_route(c))
        out["revisions"] += [_revision(c, row) for row in c.rows]
    return out


def _spec(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "containerConcurrency": spec.get("container_concurrency", 0),
        "timeoutSeconds": spec.get("timeout_seconds", 300),
        "containers": _containers(spec),
    }
