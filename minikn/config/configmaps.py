"""Settings as the Kubernetes ConfigMaps a cluster reads, and back (pure).

Knative's ConfigMaps (``config-autoscaler``, ``config-defaults``, ``config-deployment``,
``config-network`` in ``knative-serving``) hold one string per key; Knative defaults every key
left out, so they apply as they are. ``config-domain`` carries the ingress domain (Knative's
URLs). KServe's ``inferenceservice-config`` (in ``kserve``) holds a JSON document per key
(``ingress``, ``logger``, ``batcher``, ``deploy``, ``router``); KServe needs fields minikn does not
model (the Istio gateways, the agent image and its resources), so the export adds KServe's
shipped defaults for those (:data:`CLUSTER_ONLY`), and reading one back drops them.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "CLUSTER_ONLY",
    "KNATIVE_NAMESPACE",
    "KSERVE_NAMESPACE",
    "groups_from_configmaps",
    "is_configmap_list",
    "settings_configmaps",
]

KNATIVE_NAMESPACE = "knative-serving"
KSERVE_NAMESPACE = "kserve"
_KNATIVE = ("config-autoscaler", "config-defaults", "config-deployment", "config-network")
_KSERVE = "inferenceservice-config"
_DOMAIN = "config-domain"
_AGENT = {"image": "kserve/agent:latest", "memoryRequest": "100Mi", "memoryLimit": "1Gi",
          "cpuRequest": "100m", "cpuLimit": "1"}  # fmt: skip
CLUSTER_ONLY: dict[str, dict[str, Any]] = {
    "ingress": {
        "ingressGateway": "knative-serving/knative-ingress-gateway",
        "ingressService": "istio-ingressgateway.istio-system.svc.cluster.local",
        "localGateway": "knative-serving/knative-local-gateway",
        "localGatewayService": "knative-local-gateway.istio-system.svc.cluster.local",
        "ingressClassName": "istio",
    },
    "logger": _AGENT,
    "batcher": {**_AGENT, "memoryRequest": "1Gi", "cpuRequest": "1"},
}
"""Fields of ``inferenceservice-config``'s JSON keys that KServe needs on a cluster and minikn
does not model: KServe's shipped defaults (check the images against your KServe release)."""


def _text(value: Any) -> str:
    """A ConfigMap value as Knative writes it: ``true``, ``70``, ``2.5``, ``60s``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _configmap(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "minikn"},
        },
        "data": data,
    }


def settings_configmaps(groups: dict[str, Any]) -> list[dict[str, Any]]:
    """The ConfigMaps for ``groups`` (``Settings.model_dump(by_alias=True, mode="json")``)."""
    out = [
        _configmap(name, KNATIVE_NAMESPACE, {k: _text(v) for k, v in groups[name].items()})
        for name in _KNATIVE
    ]
    kserve = groups[_KSERVE]
    domain = kserve["ingress"]["ingressDomain"]
    out.append(_configmap(_DOMAIN, KNATIVE_NAMESPACE, {domain: ""}))
    data = {
        key: json.dumps({**CLUSTER_ONLY.get(key, {}), **value}, indent=4)
        for key, value in kserve.items()
    }
    out.append(_configmap(_KSERVE, KSERVE_NAMESPACE, data))
    return out


def is_configmap_list(docs: list[Any]) -> bool:
    """Whether the YAML documents ``docs`` are ConfigMaps (an export) rather than minikn's
    one-document configuration."""
    found = [d for d in docs if d is not None]
    return bool(found) and all(isinstance(d, dict) and d.get("kind") == "ConfigMap" for d in found)


def groups_from_configmaps(docs: list[Any]) -> dict[str, Any]:
    """minikn's configuration groups from exported ConfigMaps: Knative's strings as they are
    (the settings' types parse them), KServe's JSON keys decoded without :data:`CLUSTER_ONLY`;
    ``config-domain`` is derived (left out). Raises ValueError naming what is wrong."""
    groups: dict[str, Any] = {}
    for doc in docs:
        if doc is None:
            continue
        name = str((doc.get("metadata") or {}).get("name", ""))
        data = doc.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError(f"ConfigMap {name[:100]}: data must be a mapping")
        if name == _DOMAIN:
            continue
        if name in _KNATIVE:
            groups[name] = {k: v for k, v in data.items() if not str(k).startswith("_")}
        elif name == _KSERVE:
            groups[name] = {k: _decode(name, k, v) for k, v in data.items()
                            if not str(k).startswith("_")}  # fmt: skip
        else:
            raise ValueError(
                f"ConfigMap {name[:100]!r} is not one minikn reads "
                f"({', '.join([*_KNATIVE, _DOMAIN, _KSERVE])})"
            )
    return groups


def _decode(name: str, key: str, raw: Any) -> Any:
    try:
        value = json.loads(str(raw))
    except ValueError as exc:
        raise ValueError(f"ConfigMap {name} key {key}: not JSON ({exc})") from None
    if isinstance(value, dict):
        for field in CLUSTER_ONLY.get(key, {}):
            value.pop(field, None)
    return value
