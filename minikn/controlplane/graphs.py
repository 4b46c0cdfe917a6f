"""InferenceGraphs in the control plane: a graph is kept like an ISVC with one component, its
router, whose revisions run ``python -m minikn.graph`` (pure).

So a graph is routed by Host ``<graph>.<ns>.<domain>`` (and ``/_host/<graph>.<ns>/``), scaled by
the autoscaler from its ``minReplicas``/``maxReplicas``/``scaleTarget``/``scaleMetric``, scales to
zero with the activator buffering its requests, persisted and restored, exactly as a component.
A ``serviceName`` step becomes the ISVC's URL as KServe's controller resolves it
(``http://<svc>.<ns>.svc.cluster.local/v1/models/<svc>:predict``, ``/v2/models/<svc>/infer`` for
a v2 predictor known when the graph is applied); the router sends such hosts through the ingress.
A spec change (or a changed resolution) makes a new router revision, as for a component.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from minikn.api.containers import container_from_k8s
from minikn.api.graph import GRAPH_KIND, InferenceGraph
from minikn.api.graph_validation import ParsedGraph, graph_annotations
from minikn.api.results import ApplyResult
from minikn.api.runtimes import BUILTIN_IMAGE
from minikn.config import Settings
from minikn.controlplane.reconcile import live_revisions
from minikn.controlplane.revisions import revision_name
from minikn.controlplane.state import ComponentState, IsvcState, PlaneState, isvc_key
from minikn.controlplane.status import render_status, rfc3339
from minikn.core.errors import Conflict
from minikn.core.revision import ComponentName, ProbeSpec, RevisionSpec

__all__ = [
    "GRAPH_COMPONENT",
    "build_graph_revision",
    "check_kind",
    "graph_resource",
    "is_graph",
    "plan_graph",
    "router_spec",
]

GRAPH_COMPONENT: ComponentName = "router"
ROUTER_PORT = 8080
"""KServe's ``constants.RouterPort``."""


def is_graph(record: IsvcState) -> bool:
    return record.doc.get("kind") == GRAPH_KIND


def check_kind(state: PlaneState, kind: str, namespace: str, name: str, where: str) -> None:
    """A graph and an ISVC share hosts (``<name>.<ns>.<domain>``) and, in minikn, revision names
    (global): one name, one object of one kind in one namespace."""
    for other in state.isvcs.values():
        if other.name != name:
            continue
        other_kind = GRAPH_KIND if is_graph(other) else "InferenceService"
        if other.namespace == namespace and other_kind == kind:
            continue
        raise Conflict(
            f"{where}: metadata.name: an {other_kind} named {name} exists in namespace "
            f"{other.namespace} (hosts and revision names are shared in minikn)"
        )


def _service_url(service: str, namespace: str, state: PlaneState) -> str:
    """KServe's ``GetPredictorEndpoint`` on the ISVC's cluster-local address."""
    base = f"http://{service}.{namespace}.svc.cluster.local"
    record = state.isvcs.get(isvc_key(namespace, service))
    protocol = "v1"
    if record is not None and not is_graph(record):
        predictor = record.components.get("predictor")
        latest = predictor.latest_created if predictor is not None else None
        spec = state.revisions.get(latest) if latest else None
        if spec is not None and spec.protocol in ("v2", "grpc-v2"):
            protocol = "v2"
    if protocol == "v2":
        return f"{base}/v2/models/{service}/infer"
    return f"{base}/v1/models/{service}:predict"


def router_spec(graph: InferenceGraph, namespace: str, state: PlaneState) -> dict[str, Any]:
    """The ``--graph-json`` the router runs: the spec with each ``serviceName`` resolved."""
    spec: dict[str, Any] = graph.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    for node in spec["nodes"].values():
        for step in node.get("steps") or []:
            service = step.pop("serviceName", None)
            if service:
                step["serviceUrl"] = _service_url(service, namespace, state)
    return spec


def build_graph_revision(
    parsed: ParsedGraph,
    *,
    generation: int,
    routed: dict[str, Any],
    settings: Settings,
    created_at: float,
) -> RevisionSpec:
    """The router's revision: minikn's image running ``python -m minikn.graph``."""
    graph = parsed.graph
    router = settings.kserve.router
    args = [
        "--graph-json",
        json.dumps(routed, sort_keys=True, separators=(",", ":")),
        "--inferencegraph-name",
        parsed.name,
        "--domain",
        settings.kserve.ingress.ingress_domain,
        "--max-body-bytes",
        str(router.max_body_bytes),
        "--max-response-bytes",
        str(router.max_response_bytes),
        "--http_port",
        str(ROUTER_PORT),
    ]
    if router.splitter_seed is not None:
        args += ["--seed", str(router.splitter_seed)]
    env = []
    if router.headers.propagate:
        env.append({"name": "PROPAGATE_HEADERS", "value": ",".join(router.headers.propagate)})
    resources = graph.spec.resources
    container = container_from_k8s(
        {
            "image": f"{BUILTIN_IMAGE}:latest",
            "command": ["python", "-m", "minikn.graph"],
            "args": args,
            "env": env,
            "resources": resources.model_dump(by_alias=True, exclude_none=True)
            if resources is not None
            else {},
        }
    ).model_copy(update={"readiness_probe": ProbeSpec(kind="http", path="/readyz")})
    return RevisionSpec(
        name=revision_name(parsed.name, GRAPH_COMPONENT, generation),
        isvc=parsed.name,
        namespace=parsed.namespace,
        component=GRAPH_COMPONENT,
        generation=generation,
        container=container,
        container_concurrency=settings.defaults.container_concurrency,
        timeout_seconds=graph.spec.timeout or settings.defaults.revision_timeout_seconds,
        annotations=graph_annotations(graph, settings),
        labels=dict(graph.metadata.labels or {}),
        created_at=created_at,
    )


def _digest(routed: dict[str, Any], parsed: ParsedGraph, settings: Settings) -> str:
    spec = parsed.graph.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    payload = {
        "routed": routed,
        "spec": spec,
        "annotations": graph_annotations(parsed.graph, settings),
        "labels": parsed.graph.metadata.labels or {},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def plan_graph(
    state: PlaneState, parsed: ParsedGraph, where: str, *, settings: Settings, now: float
) -> ApplyResult:
    """Plan one graph into ``state``: its record and, when it changed, a new router revision."""
    check_kind(state, GRAPH_KIND, parsed.namespace, parsed.name, where)
    key = isvc_key(parsed.namespace, parsed.name)
    old = state.isvcs.get(key)
    if old is None:
        record = IsvcState(
            name=parsed.name,
            namespace=parsed.namespace,
            api_version=str(parsed.doc.get("apiVersion")),
            doc=parsed.doc,
            created_at=now,
            updated_at=now,
        )
    else:
        record = old.model_copy(deep=True)
        if old.doc.get("spec") != parsed.doc.get("spec"):
            record.generation += 1
    record.doc, record.updated_at = parsed.doc, now
    cs = record.components.get(GRAPH_COMPONENT) or ComponentState()
    cs.error_reason = cs.error_message = None
    routed = router_spec(parsed.graph, parsed.namespace, state)
    digest = _digest(routed, parsed, settings)
    created: list[str] = []
    if cs.latest_created is None or cs.hashes.get(cs.latest_created) != digest:
        rev = build_graph_revision(
            parsed, generation=cs.generation + 1, routed=routed, settings=settings, created_at=now
        )
        cs.revisions.append(rev.name)
        cs.hashes[rev.name] = digest
        state.revisions[rev.name] = rev
        created.append(rev.name)
    record.components = {GRAPH_COMPONENT: cs}
    state.isvcs[key] = record
    if old is None:
        action = "created"
    else:
        action = "configured" if created or old.doc != parsed.doc else "unchanged"
    return ApplyResult(where, GRAPH_KIND, parsed.name, parsed.namespace, action, created)


def graph_resource(
    record: IsvcState,
    settings: Settings,
    extras: Callable[[str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The graph as the API returns it: the document plus KServe's InferenceGraphStatus
    (``url``, ``conditions``, ``observedGeneration``, ``deploymentMode`` named as the ISVCs' are:
    the router runs as Knative revisions) and, beyond KServe,
    the router's revisions and traffic under ``status.components.router``."""
    body: dict[str, Any] = copy.deepcopy(record.doc)
    meta = body.setdefault("metadata", {})
    meta.setdefault("namespace", record.namespace)
    meta["generation"] = record.generation
    rendered = render_status(record, settings)
    body["status"] = {
        "url": rendered["url"],
        "conditions": rendered["conditions"],
        "observedGeneration": record.generation,
        "deploymentMode": rendered["deploymentMode"],
        "components": rendered["components"],
    }
    if extras is not None:
        found = {r: extras(r) for r in sorted(live_revisions(record)[0])}
        body["status"]["revisions"] = {r: e for r, e in found.items() if e}
    meta["creationTimestamp"] = rfc3339(record.created_at)
    return body
