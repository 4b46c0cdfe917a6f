"""The core/v1 shapes an InferenceService embeds (Container, PodSpec), with the real field names.

Only the fields minikn acts on are typed closely; the rest of core/v1 is accepted by name (so valid
Kubernetes YAML loads) and ignored. An unknown field is refused (``extra='forbid'``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "ContainerFields",
    "ContainerPort",
    "EnvVar",
    "Int",
    "Int32",
    "Int64",
    "K8sContainer",
    "K8sModel",
    "PodSpecFields",
    "Probe",
    "Quantity",
    "ResourceRequirements",
]

Int = Annotated[int, Strict()]
"""An integer field: no bool (``true`` is not 1), float or numeric string (Kubernetes' decoder)."""
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
Int32 = Annotated[int, Strict(), Field(ge=-(2**31), le=INT32_MAX)]
"""A Kubernetes ``int32`` field: strict, and in range (the decoder refuses an overflow)."""
Int64 = Annotated[int, Strict(), Field(ge=-(2**63), le=INT64_MAX)]
"""A Kubernetes ``int64`` field."""
Quantity = Annotated[str, Strict()] | Int | Annotated[float, Strict()]
"""A resource.Quantity: ``"500m"``, ``2``, ``0.5``; never a bool."""
NonNegInt32 = Annotated[int, Strict(), Field(ge=0, le=INT32_MAX)]
NonNegInt64 = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
PosInt64 = Annotated[int, Strict(), Field(ge=1, le=INT64_MAX)]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]


class K8sModel(BaseModel):
    """camelCase keys, unknown keys refused, None means "not given"."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class EnvVar(K8sModel):
    name: str
    value: str | None = None
    value_from: dict[str, Any] | None = None


class ContainerPort(K8sModel):
    container_port: Port
    name: str | None = None
    host_port: Annotated[int, Strict(), Field(ge=0, le=65535)] | None = None
    """0 (or unset) means no host port; Kubernetes validates the port only when it is set."""
    host_ip: str | None = Field(None, alias="hostIP")
    protocol: str | None = None


class ResourceRequirements(K8sModel):
    limits: dict[str, Quantity] | None = None
    requests: dict[str, Quantity] | None = None
    claims: list[dict[str, Any]] | None = None


class Probe(K8sModel):
    http_get: dict[str, Any] | None = None
    tcp_socket: dict[str, Any] | None = None
    exec: dict[str, Any] | None = None
    grpc: dict[str, Any] | None = None
    initial_delay_seconds: NonNegInt32 | None = None
    timeout_seconds: NonNegInt32 | None = None
    period_seconds: NonNegInt32 | None = None
    success_threshold: NonNegInt32 | None = None
    failure_threshold: NonNegInt32 | None = None
    termination_grace_period_seconds: PosInt64 | None = None


class ContainerFields(K8sModel):
    """core/v1 Container minus ``name`` (inlined in ``model:``, ``sklearn:``, ``art:`` ...)."""

    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env_from: list[dict[str, Any]] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    resize_policy: list[dict[str, Any]] | None = None
    restart_policy: str | None = None
    volume_mounts: list[dict[str, Any]] | None = None
    volume_devices: list[dict[str, Any]] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: dict[str, Any] | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    image_pull_policy: str | None = None
    security_context: dict[str, Any] | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None


class K8sContainer(ContainerFields):
    """A full core/v1 Container (in ``containers:``)."""

    name: str | None = None


class PodSpecFields(K8sModel):
    """core/v1 PodSpec, inlined in every component."""

    containers: list[K8sContainer] | None = None
    init_containers: list[dict[str, Any]] | None = None
    ephemeral_containers: list[dict[str, Any]] | None = None
    volumes: list[dict[str, Any]] | None = None
    restart_policy: str | None = None
    termination_grace_period_seconds: NonNegInt64 | None = None
    active_deadline_seconds: Annotated[int, Strict(), Field(ge=1, le=INT32_MAX)] | None = None
    """Kubernetes: between 1 and 2147483647, inclusive."""
    dns_policy: str | None = None
    dns_config: dict[str, Any] | None = None
    node_selector: dict[str, str] | None = None
    node_name: str | None = None
    service_account_name: str | None = None
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    host_network: bool | None = None
    host_pid: bool | None = Field(None, alias="hostPID")
    host_ipc: bool | None = Field(None, alias="hostIPC")
    host_users: bool | None = None
    share_process_namespace: bool | None = None
    security_context: dict[str, Any] | None = None
    image_pull_secrets: list[dict[str, Any]] | None = None
    hostname: str | None = None
    subdomain: str | None = None
    affinity: dict[str, Any] | None = None
    scheduler_name: str | None = None
    tolerations: list[dict[str, Any]] | None = None
    host_aliases: list[dict[str, Any]] | None = None
    priority_class_name: str | None = None
    priority: Int32 | None = None
    readiness_gates: list[dict[str, Any]] | None = None
    runtime_class_name: str | None = None
    enable_service_links: bool | None = None
    preemption_policy: str | None = None
    overhead: dict[str, Quantity] | None = None
    topology_spread_constraints: list[dict[str, Any]] | None = None
    set_hostname_as_fqdn: bool | None = Field(None, alias="setHostnameAsFQDN")
    os: dict[str, Any] | None = None
    scheduling_gates: list[dict[str, Any]] | None = None
    resource_claims: list[dict[str, Any]] | None = None
