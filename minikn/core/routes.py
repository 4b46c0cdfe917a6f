"""The route table the control plane publishes and the router reads: which hosts and model names
lead to which component, and how that component's traffic splits across revisions.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from minikn.core.revision import ComponentName

__all__ = ["ComponentRoute", "IsvcRoute", "RouteTable", "TrafficTarget"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrafficTarget(_Frozen):
    """One entry of a component's traffic (Knative's TrafficTarget)."""

    revision: str
    percent: int
    tag: str | None = None
    latest: bool = False


class ComponentRoute(_Frozen):
    """Traffic of one component; percents sum to 100 when any revision is routable."""

    component: ComponentName
    targets: tuple[TrafficTarget, ...] = ()


class IsvcRoute(_Frozen):
    """Everything the router needs of one ISVC."""

    name: str
    namespace: str = "default"
    components: tuple[ComponentRoute, ...] = ()
    model_names: tuple[str, ...] = ()
    """Model names served (path fallback ``/v1/models/<name>``); the ISVC name by default."""

    def component(self, name: ComponentName) -> ComponentRoute | None:
        return next((c for c in self.components if c.component == name), None)

    @property
    def entry(self) -> ComponentName:
        """The component the ISVC's own host reaches: the transformer when present; a graph's
        router for an InferenceGraph (its only component)."""
        if self.component("transformer"):
            return "transformer"
        if self.component("predictor") is None and self.component("router") is not None:
            return "router"
        return "predictor"


class RouteTable(_Frozen):
    """A snapshot of all routes plus the ingress domain; replaced whole on every change."""

    domain: str = "example.com"
    isvcs: tuple[IsvcRoute, ...] = ()
