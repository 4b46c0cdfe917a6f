"""KServe's ``inferenceservice-config`` (the parts a local emulator acts on).

Source: kserve/kserve ``config/configmap/inferenceservice.yaml``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from minikn.config.types import ConfigGroup

__all__ = [
    "AgentBatcherConfig",
    "AgentLoggerConfig",
    "DeployConfig",
    "InferenceServiceConfig",
    "IngressConfig",
    "RouterConfig",
    "RouterHeadersConfig",
]


class IngressConfig(ConfigGroup):
    """``ingress``: how ISVC URLs are formed."""

    ingress_domain: str = Field("example.com", alias="ingressDomain")
    """The domain in ``http://<isvc>.<namespace>.<domain>``."""
    domain_template: str = Field(
        "{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}", alias="domainTemplate"
    )
    """KServe's raw-deployment host template (kept for fidelity; unused in Knative mode)."""
    url_scheme: Literal["http", "https"] = Field("http", alias="urlScheme")
    """Scheme of status URLs."""


class AgentLoggerConfig(ConfigGroup):
    """``logger``: defaults of the payload logger."""

    default_url: str = Field("http://default-broker", alias="defaultUrl")
    """Sink used when ``logger.url`` is not set."""


class AgentBatcherConfig(ConfigGroup):
    """``batcher``: defaults of the batcher (KServe's agent code: 32 instances, 5000 ms)."""

    max_batch_size: int = Field(32, alias="maxBatchSize", ge=1)
    """Instances per batch."""
    max_latency: int = Field(5000, alias="maxLatency", ge=1)
    """Milliseconds the first queued instance may wait."""


class RouterHeadersConfig(ConfigGroup):
    """``router.headers``."""

    propagate: tuple[str, ...] = ()
    """Regexes of request headers the InferenceGraph router passes on to every step (KServe's
    ``router.headers.propagate``, the router's ``PROPAGATE_HEADERS`` env)."""


class RouterConfig(ConfigGroup):
    """``router``: the InferenceGraph router."""

    headers: RouterHeadersConfig = RouterHeadersConfig()
    max_body_bytes: int = Field(16 * 1024 * 1024, alias="maxBodyBytes", ge=1)
    """minikn: the largest request body a graph accepts (413 beyond)."""
    max_response_bytes: int = Field(64 * 1024 * 1024, alias="maxResponseBytes", ge=1)
    """minikn: the largest step response the router reads whole (the call fails beyond)."""
    splitter_seed: int | None = Field(None, alias="splitterSeed", ge=0)
    """minikn: seed of the Splitter's draws (the router's ``--seed``), so a run of a graph is
    reproducible; None draws from the system's random source, as KServe's ``crypto/rand``."""


class DeployConfig(ConfigGroup):
    """``deploy``."""

    default_deployment_mode: Literal["Knative", "Serverless", "Standard", "RawDeployment"] = Field(
        "Knative", alias="defaultDeploymentMode"
    )
    """The mode of an ISVC without the ``serving.kserve.io/deploymentMode`` annotation:
    ``Knative`` (legacy ``Serverless``: revisions, KPA, activator, scale to zero) or ``Standard``
    (legacy ``RawDeployment``: Deployment + HPA, requests straight to ready replicas)."""


class InferenceServiceConfig(ConfigGroup):
    """``inferenceservice-config``."""

    ingress: IngressConfig = IngressConfig()
    logger: AgentLoggerConfig = AgentLoggerConfig()
    batcher: AgentBatcherConfig = AgentBatcherConfig()
    deploy: DeployConfig = DeployConfig()
    router: RouterConfig = RouterConfig()
