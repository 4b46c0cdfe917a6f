"""KServe's deployment modes: the four spellings of ``serving.kserve.io/deploymentMode``, the
platform default, and what Standard (raw) mode changes about a component's scaling (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from minikn.core.errors import InvalidInput
from minikn.core.revision import DEPLOYMENT_MODE

__all__ = [
    "DEPLOYMENT_MODE",
    "DeploymentMode",
    "deployment_mode",
    "mode_change_error",
    "normalize_mode",
]

DeploymentMode = Literal["Knative", "Standard"]

_SPELLINGS: dict[str, DeploymentMode] = {
    "Knative": "Knative",
    "Serverless": "Knative",
    "Standard": "Standard",
    "RawDeployment": "Standard",
}
"""KServe's ``ParseDeploymentMode``: ``Serverless`` and ``RawDeployment`` are the legacy names
(renamed in v0.16)."""


def normalize_mode(value: str) -> DeploymentMode:
    """``Serverless``/``Knative`` -> Knative, ``RawDeployment``/``Standard`` -> Standard."""
    found = _SPELLINGS.get(value)
    if found is not None:
        return found
    if value == "ModelMesh":
        raise InvalidInput(
            f"metadata.annotations[{DEPLOYMENT_MODE}]: ModelMesh is not emulated by minikn "
            "(use Knative or Standard)"
        )
    shown = value if len(value) <= 64 else value[:64] + "..."
    raise InvalidInput(
        f"metadata.annotations[{DEPLOYMENT_MODE}]: unknown deployment mode {shown!r} "
        "(one of Knative, Standard, or the legacy Serverless, RawDeployment)"
    )


def deployment_mode(annotations: Mapping[str, str], default: str) -> DeploymentMode:
    """The ISVC's mode: its annotation, else the platform's ``defaultDeploymentMode``."""
    value = annotations.get(DEPLOYMENT_MODE)
    return normalize_mode(value if value is not None else default)


def mode_change_error(recorded: str, annotations: Mapping[str, str]) -> str | None:
    """KServe's ``validateDeploymentMode`` on update: the annotation, when present, must equal the
    mode recorded in the status (compared as written, as KServe does)."""
    value = annotations.get(DEPLOYMENT_MODE)
    if value is None or not recorded or value == recorded:
        return None
    return f"update rejected: deploymentMode cannot be changed from '{recorded}' to '{value}'"
