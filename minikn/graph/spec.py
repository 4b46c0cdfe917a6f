"""The graph the router runs, read from KServe's ``--graph-json`` shape (pure).

Admission (``minikn.api.graph_validation``) already refused what KServe's webhook refuses, plus
cycles and dangling ``nodeName``s; this reader trusts that and only converts, but still refuses a
malformed document with :class:`ValueError` (the process exits with the message).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from minikn.graph.gjson import Path, parse_path

__all__ = ["GraphSpec", "Node", "Step", "parse_graph_json"]

RouterType = Literal["Sequence", "Splitter", "Ensemble", "Switch"]
ROOT = "root"


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    """KServe's ``StepName`` ('' when not given)."""
    node_name: str = ""
    service_name: str = ""
    service_url: str = ""
    data: str = ""
    map_predictions_to_instances: bool = False
    weight: int | None = None
    condition: Path | None = None
    condition_text: str = ""
    hard: bool = False
    """``dependency: Hard``."""

    def label(self, node: str, index: int) -> str:
        """The step's name in metrics and logs: its name, else ``<node>[<index>]``."""
        return self.name or f"{node}[{index}]"


@dataclass(frozen=True, slots=True)
class Node:
    router_type: RouterType
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class GraphSpec:
    nodes: Mapping[str, Node]
    timeout_s: float | None = None
    """``timeout``: the whole request's deadline (None: the platform's revision timeout)."""
    service_client_timeout_s: float | None = None
    """``routerTimeouts.serviceClient``: each step call's limit (KServe: none by default)."""


def _step(raw: Mapping[str, Any]) -> Step:
    condition = str(raw.get("condition") or "")
    weight = raw.get("weight")
    return Step(
        name=str(raw.get("name") or ""),
        node_name=str(raw.get("nodeName") or ""),
        service_name=str(raw.get("serviceName") or ""),
        service_url=str(raw.get("serviceUrl") or ""),
        data=str(raw.get("data") or ""),
        map_predictions_to_instances=bool(raw.get("mapPredictionsToInstances")),
        weight=int(weight) if weight is not None else None,
        condition=parse_path(condition) if condition else None,
        condition_text=condition,
        hard=raw.get("dependency") == "Hard",
    )


def parse_graph_json(spec: Mapping[str, Any]) -> GraphSpec:
    """The router's view of an InferenceGraph ``spec`` (ValueError when it is not one)."""
    nodes_raw = spec.get("nodes")
    if not isinstance(nodes_raw, Mapping) or ROOT not in nodes_raw:
        raise ValueError("the graph needs nodes with a 'root' node")
    nodes: dict[str, Node] = {}
    for name, node in nodes_raw.items():
        kind = node.get("routerType")
        if kind not in ("Sequence", "Splitter", "Ensemble", "Switch"):
            raise ValueError(f"node {name}: invalid route type: {kind}")
        nodes[str(name)] = Node(kind, tuple(_step(s) for s in node.get("steps") or ()))
    timeouts = spec.get("routerTimeouts") or {}
    timeout = spec.get("timeout")
    client = timeouts.get("serviceClient")
    return GraphSpec(
        nodes=nodes,
        timeout_s=float(timeout) if timeout else None,
        service_client_timeout_s=float(client) if client else None,
    )
