"""Kubeconfig documents naming minikn: build one, and merge it into an existing one (pure)."""

from __future__ import annotations

import base64
import copy
from typing import Any

__all__ = ["CONTEXT", "kubeconfig", "merge_kubeconfig"]

CONTEXT = "minikn"


def kubeconfig(
    server: str, ca_pem: bytes, token: str, *, namespace: str = "default"
) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context named ``minikn`` (current)."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def merge_kubeconfig(
    existing: dict[str, Any] | None, ours: dict[str, Any], *, make_current: bool
) -> dict[str, Any]:
    """``existing`` with minikn's cluster, user and context added or replaced (others kept)."""
    out = copy.deepcopy(existing) if isinstance(existing, dict) else {}
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    for section in ("clusters", "users", "contexts"):
        entries = out.get(section)
        kept = (
            [e for e in entries if isinstance(e, dict) and e.get("name") != CONTEXT]
            if isinstance(entries, list)
            else []
        )
        out[section] = kept + copy.deepcopy(ours[section])
    if make_current or not out.get("current-context"):
        out["current-context"] = CONTEXT
    return out
