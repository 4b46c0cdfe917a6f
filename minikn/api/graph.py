"""The ``serving.kserve.io/v1alpha1`` InferenceGraph schema (KServe's Go types in pydantic).

Source: kserve/kserve ``pkg/apis/serving/v1alpha1/inference_graph.go``. Unknown fields are refused,
so a typo names its path. The router reads the same shape (``minikn.graph.spec``), as KServe's
router reads ``--graph-json``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from minikn.api.k8s import K8sModel, ResourceRequirements
from minikn.api.schema import Int, ObjectMeta

__all__ = [
    "GRAPH_API_VERSION",
    "GRAPH_KIND",
    "InferenceGraph",
    "InferenceGraphSpec",
    "InferenceRouter",
    "InferenceStep",
    "RouterTimeouts",
]

GRAPH_KIND = "InferenceGraph"
GRAPH_API_VERSION = "serving.kserve.io/v1alpha1"
ROOT_NODE = "root"
"""KServe's ``GraphRootNodeName``."""

RouterType = Literal["Sequence", "Splitter", "Ensemble", "Switch"]
Dependency = Literal["Soft", "Hard"]
ScaleMetric = Literal["cpu", "memory", "concurrency", "rps"]


class InferenceStep(K8sModel):
    """One step of a node: exactly one of ``nodeName``, ``serviceName``, ``serviceUrl``."""

    name: str | None = None
    """KServe's ``StepName`` (``json:"name"``): the key of its response in an Ensemble."""
    node_name: str | None = None
    service_name: str | None = None
    service_url: str | None = Field(None, alias="serviceUrl")
    data: str | None = None
    """``$request`` (the graph's input) or ``$response`` (the previous step's output)."""
    map_predictions_to_instances: bool | None = None
    weight: Int | None = None
    condition: str | None = None
    """gjson path (``minikn.graph.gjson`` documents the subset)."""
    dependency: Dependency | None = None


class InferenceRouter(K8sModel):
    router_type: RouterType
    steps: list[InferenceStep] | None = None


class RouterTimeouts(K8sModel):
    """``routerTimeouts`` (seconds): KServe's defaults 60/60/180, no client timeout."""

    server_read: Int | None = None
    server_write: Int | None = None
    server_idle: Int | None = None
    service_client: Int | None = None


class InferenceGraphSpec(K8sModel):
    nodes: dict[str, InferenceRouter]
    resources: ResourceRequirements | None = None
    affinity: dict[str, Any] | None = None
    timeout: Int | None = None
    """Seconds a request may take (the revision's ``timeoutSeconds``)."""
    router_timeouts: RouterTimeouts | None = None
    min_replicas: Int | None = None
    max_replicas: Int = 0
    scale_target: Int | None = None
    scale_metric: ScaleMetric | None = None
    tolerations: list[dict[str, Any]] | None = None
    node_selector: dict[str, str] | None = None
    node_name: str | None = None
    service_account_name: str | None = None


class InferenceGraph(K8sModel):
    api_version: str = Field(alias="apiVersion")
    kind: Literal["InferenceGraph"]
    metadata: ObjectMeta
    spec: InferenceGraphSpec
    status: dict[str, Any] | None = None
    """Server-set; accepted so ``get -o yaml`` output re-applies, never read."""
