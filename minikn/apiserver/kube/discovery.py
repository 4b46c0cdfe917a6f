"""Discovery documents: ``/version``, ``/api``, ``/apis`` and each group version's resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "GROUPS",
    "KUBE_VERSION",
    "Resource",
    "api_group",
    "api_group_list",
    "api_versions",
    "group_names",
    "resource_list",
    "version_info",
]

KUBE_VERSION = ("1", "32")
"""The Kubernetes minor whose API this emulates (kubectl warns beyond one minor of skew)."""

_RW = ["create", "delete", "get", "list", "patch", "update", "watch"]
_RO = ["get", "list", "watch"]


@dataclass(frozen=True)
class Resource:
    name: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    singular: str = ""
    categories: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            out["shortNames"] = list(self.short_names)
        if self.categories:
            out["categories"] = list(self.categories)
        return out


def _isvc(short: tuple[str, ...]) -> list[Resource]:
    return [
        Resource(
            "inferenceservices", "InferenceService", True, tuple(_RW), short, "inferenceservice"
        ),
        Resource("inferenceservices/status", "InferenceService", True, ("get", "patch", "update")),
    ]


GROUPS: dict[str, list[Resource]] = {
    "v1": [
        Resource("namespaces", "Namespace", False, ("get", "list"), ("ns",), "namespace"),
        Resource("events", "Event", True, ("get", "list"), ("ev",), "event"),
    ],
    "serving.kserve.io/v1beta1": _isvc(("isvc",)),
    "serving.kubeflow.org/v1alpha2": _isvc(()),
    "serving.kserve.io/v1alpha1": [
        Resource("inferencegraphs", "InferenceGraph", True, tuple(_RW), ("ig",), "inferencegraph"),
        Resource("inferencegraphs/status", "InferenceGraph", True, ("get", "patch", "update")),
    ],
    "serving.knative.dev/v1": [
        Resource("services", "Service", True, tuple(_RO), ("kservice", "ksvc"), "service",
                 ("all", "knative", "serving")),
        Resource("configurations", "Configuration", True, tuple(_RO), ("config", "cfg"),
                 "configuration", ("all", "knative", "serving")),
        Resource("revisions", "Revision", True, tuple(_RO), ("rev",), "revision",
                 ("all", "knative", "serving")),
        Resource("routes", "Route", True, tuple(_RO), ("rt",), "route",
                 ("all", "knative", "serving")),
    ],
}  # fmt: skip
"""Every group version served, with its resources (``v1`` is the core group)."""


def version_info() -> dict[str, Any]:
    major, minor = KUBE_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{major}.{minor}.0-minikn",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "minikn (python)",
        "compiler": "minikn",
        "platform": "linux/amd64",
    }


def api_versions(server: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
    }


def _group(name: str) -> dict[str, Any]:
    versions = [gv for gv in GROUPS if gv.startswith(name + "/")]
    entries = [{"groupVersion": gv, "version": gv.split("/", 1)[1]} for gv in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def group_names() -> list[str]:
    return sorted({gv.split("/", 1)[0] for gv in GROUPS if "/" in gv})


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(g) for g in group_names()],
    }


def api_group(name: str) -> dict[str, Any] | None:
    if name not in group_names():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def resource_list(group_version: str) -> dict[str, Any] | None:
    resources = GROUPS.get(group_version)
    if resources is None:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [r.as_dict() for r in resources],
    }
