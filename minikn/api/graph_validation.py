"""Admission of an InferenceGraph, as KServe's webhook (``inference_graph_validation.go``), plus
what KServe's router would only find out at request time.

KServe's rules and messages: the name, a ``root`` node, unique step names per node, exactly one
target per step, Splitter weights present and summing to 100. minikn adds: a ``nodeName`` names an
existing node, no node reaches itself (KServe's router would recurse until its stack ran out), a
``serviceUrl`` is http(s), a ``condition`` is in the gjson subset ``minikn.graph.gjson`` evaluates,
bounded node and step counts, and the scaling fields' ranges (KServe's component rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from minikn.api.documents import Document
from minikn.api.graph import GRAPH_API_VERSION, ROOT_NODE, InferenceGraph
from minikn.config import Settings
from minikn.config.autoscaler import HPA_CLASS, KPA_CLASS
from minikn.core.errors import InvalidInput
from minikn.graph.gjson import GjsonSyntaxError, parse_path

__all__ = [
    "MAX_NODES",
    "MAX_STEPS",
    "ParsedGraph",
    "find_cycle",
    "graph_annotations",
    "graph_problems",
    "parse_graph",
]

GRAPH_NAME_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_GRAPH_NAME = re.compile(f"^{GRAPH_NAME_FMT}$")
_DNS1123_LABEL = re.compile("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
AUTOSCALING_PREFIX = "autoscaling.knative.dev/"
MAX_NAME = 63
MAX_NODES = 64
"""Nodes per graph (minikn's bound; KServe has none)."""
MAX_STEPS = 64
"""Steps per node."""

AnnotationValidator = Callable[[Mapping[str, str], int], list[str]]


@dataclass(frozen=True)
class ParsedGraph:
    name: str
    namespace: str
    graph: InferenceGraph
    doc: dict[str, Any]
    """The document as applied."""

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.graph.metadata.annotations or {})


def _name_rules(graph: InferenceGraph) -> list[str]:
    name = graph.metadata.name or ""
    problems = []
    if not _GRAPH_NAME.match(name):
        problems.append(
            f'metadata.name: The InferenceGraph "{name[:80]}" is invalid: a InferenceGraph name '
            "must consist of lower case alphanumeric characters or '-', and must start with "
            'alphabetical character. (e.g. "my-name" or "abc-123", regex used for validation is '
            f"'{GRAPH_NAME_FMT}')"
        )
    if len(name) > MAX_NAME:
        problems.append(f"metadata.name: must be no more than {MAX_NAME} characters")
    ns = graph.metadata.namespace
    if ns is not None and (not _DNS1123_LABEL.match(ns) or len(ns) > MAX_NAME):
        problems.append(
            f'metadata.namespace: "{ns[:80]}": a lowercase RFC 1123 label must consist of lower '
            "case alphanumeric characters or '-', and must start and end with an alphanumeric "
            f"character, at most {MAX_NAME} characters"
        )
    return problems


def _step_rules(graph: InferenceGraph) -> list[str]:
    """KServe's uniqueness, single-target and weight rules, then minikn's reference rules."""
    name = graph.metadata.name or ""
    nodes = graph.spec.nodes
    problems: list[str] = []
    for node_name, node in nodes.items():
        steps = node.steps or []
        if len(steps) > MAX_STEPS:
            problems.append(f"spec.nodes.{node_name}.steps: at most {MAX_STEPS} steps per node")
            continue
        seen: set[str] = set()
        for i, step in enumerate(steps):
            at = f"spec.nodes.{node_name}.steps[{i}]"
            label = step.name or ""
            if label:
                if label in seen:
                    problems.append(
                        f'{at}.name: Node "{node_name}" of InferenceGraph "{name}" contains more '
                        f'than one step with name "{label}"'
                    )
                seen.add(label)
            targets = [t for t in (step.node_name, step.service_name, step.service_url) if t]
            if not targets:
                problems.append(
                    f'{at}: Step {i} ("{label}") in node "{node_name}" of InferenceGraph "{name}" '
                    "does not specify an inference target"
                )
            elif len(targets) > 1:
                problems.append(
                    f'{at}: Step {i} ("{label}") in node "{node_name}" of InferenceGraph "{name}" '
                    "specifies more than one of nodeName, serviceName, serviceUrl"
                )
            problems.extend(_target_rules(graph, at, step.node_name, step.service_url))
            if step.service_name and not _GRAPH_NAME.match(step.service_name):
                problems.append(
                    f"{at}.serviceName: {step.service_name[:80]!r} is not an InferenceService "
                    f"name (regex '{GRAPH_NAME_FMT}')"
                )
            if step.condition:
                try:
                    parse_path(step.condition)
                except GjsonSyntaxError as exc:
                    problems.append(f"{at}.condition: {exc}")
        if node.router_type == "Splitter":
            problems.extend(_weight_rules(name, node_name, node.steps or []))
    return problems


def _target_rules(
    graph: InferenceGraph, at: str, node_name: str | None, url: str | None
) -> list[str]:
    problems = []
    if node_name and node_name not in graph.spec.nodes:
        problems.append(f'{at}.nodeName: node "{node_name[:80]}" does not exist in spec.nodes')
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"{at}.serviceUrl: {url[:200]!r} must be an http or https URL")
    return problems


def _weight_rules(graph: str, node: str, steps: list[Any]) -> list[str]:
    """KServe's ``validateInferenceGraphSplitterWeight`` (its message names the serviceName)."""
    total = 0
    for step in steps:
        if step.weight is None:
            return [
                f"spec.nodes.{node}: InferenceGraph[{graph}] Node[{node}] "
                f"Route[{step.service_name or ''}] missing the 'Weight'"
            ]
        total += step.weight
    if total != 100:
        return [
            f"spec.nodes.{node}: InferenceGraph[{graph}] Node[{node}] splitter node: the sum of "
            "traffic weights for all routing targets should be 100"
        ]
    return []


def find_cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """A path ``[a, b, ..., a]`` of node references that loops, or None (iterative DFS, pure)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(edges):
        if state.get(start):
            continue
        path: list[str] = [start]
        stack = [iter(edges.get(start, []))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt) and nxt in edges:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(edges.get(nxt, [])))
    return None


def _graph_rules(graph: InferenceGraph) -> list[str]:
    nodes = graph.spec.nodes
    if ROOT_NODE not in nodes:
        return [
            "spec.nodes: root node not found, InferenceGraph needs a node with name 'root' as "
            "the root node of the graph"
        ]
    if len(nodes) > MAX_NODES:
        return [f"spec.nodes: at most {MAX_NODES} nodes per graph"]
    edges = {n: [s.node_name for s in r.steps or [] if s.node_name] for n, r in nodes.items()}
    cycle = find_cycle(edges)
    if cycle is not None:
        return [f"spec.nodes: the graph has a cycle: {' -> '.join(cycle)}"]
    return []


def _scale_rules(graph: InferenceGraph, settings: Settings) -> list[str]:
    spec = graph.spec
    problems = []
    lo = spec.min_replicas if spec.min_replicas is not None else 1
    if lo < 0:
        problems.append("spec.minReplicas: 'MinReplicas' cannot be less than 0")
    if spec.max_replicas < 0:
        problems.append("spec.maxReplicas: 'MaxReplicas' cannot be less than 0")
    elif spec.max_replicas and lo > spec.max_replicas:
        problems.append("spec.minReplicas: 'MinReplicas' cannot be greater than MaxReplicas")
    if spec.scale_target is not None and spec.scale_target <= 0:
        problems.append(f"spec.scaleTarget: must be greater than 0 (got {spec.scale_target})")
    limit = settings.defaults.max_revision_timeout_seconds
    if spec.timeout is not None and not 0 <= spec.timeout <= limit:
        problems.append(
            f"spec.timeout: expected 0 <= {spec.timeout} <= {limit} "
            "(config-defaults max-revision-timeout-seconds)"
        )
    return problems


def graph_annotations(graph: InferenceGraph, settings: Settings) -> dict[str, str]:
    """The router revision's ``autoscaling.knative.dev/*`` annotations, as KServe maps a
    component's: min-scale from ``minReplicas`` (default 1), max-scale, target, metric; the
    class is HPA for ``cpu``/``memory`` (KPA cannot scale on them), else the configured class."""
    spec = graph.spec
    meta = {
        k: v
        for k, v in (graph.metadata.annotations or {}).items()
        if k.startswith(AUTOSCALING_PREFIX)
        and k.removeprefix(AUTOSCALING_PREFIX) not in ("min-scale", "max-scale")
    }
    klass = settings.autoscaler.pod_autoscaler_class or KPA_CLASS
    if spec.scale_metric in ("cpu", "memory"):
        klass = HPA_CLASS
    out = {f"{AUTOSCALING_PREFIX}class": klass, **meta}
    out[f"{AUTOSCALING_PREFIX}min-scale"] = str(
        spec.min_replicas if spec.min_replicas is not None else 1
    )
    if spec.max_replicas:
        out[f"{AUTOSCALING_PREFIX}max-scale"] = str(spec.max_replicas)
    if spec.scale_target is not None:
        out[f"{AUTOSCALING_PREFIX}target"] = str(spec.scale_target)
    if spec.scale_metric is not None:
        out[f"{AUTOSCALING_PREFIX}metric"] = spec.scale_metric
    return out


def graph_problems(graph: InferenceGraph, settings: Settings) -> list[str]:
    """Every rule the graph breaks, each ``path: message`` (pure)."""
    problems = [*_name_rules(graph), *_graph_rules(graph)]
    if not any(p.startswith("spec.nodes: root") for p in problems):
        problems.extend(_step_rules(graph))
    problems.extend(_scale_rules(graph, settings))
    return problems


def _format(err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            rule = "unknown field"
        elif e["type"] == "missing":
            rule = "required field is missing"
        else:
            rule = f"{e['msg']} (got {e.get('input')!r})"[:300]
        lines.append(f"{path or '(document)'}: {rule}")
    return lines


def parse_graph(
    doc: Document,
    settings: Settings,
    check_annotations: AnnotationValidator | None = None,
) -> ParsedGraph:
    """Parse and admit one InferenceGraph document; InvalidInput names each broken rule."""
    body = doc.body
    api = body.get("apiVersion")
    if api != GRAPH_API_VERSION:
        raise _invalid(doc, [f"apiVersion: {api!r} is not supported (use {GRAPH_API_VERSION})"])
    try:
        graph = InferenceGraph.model_validate(body)
    except ValidationError as exc:
        raise _invalid(doc, _format(exc)) from exc
    problems = graph_problems(graph, settings)
    if not problems and check_annotations is not None:
        annotations = graph_annotations(graph, settings)
        problems.extend(f"spec: {p}" for p in check_annotations(annotations, 0))
    if problems:
        raise _invalid(doc, problems)
    name = graph.metadata.name or ""
    return ParsedGraph(name, graph.metadata.namespace or doc.namespace, graph, body)


def _invalid(doc: Document, problems: list[str]) -> InvalidInput:
    return InvalidInput("\n".join(f"{doc.where()}: {p}" for p in problems), reason="Invalid")
