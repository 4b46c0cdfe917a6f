"""Events: what happened to an ISVC, shown by ``minikn describe`` (Kubernetes Events, in short)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Event", "EventSink"]


class Event(BaseModel):
    """One event about an ISVC or one of its revisions or replicas."""

    model_config = ConfigDict(frozen=True)

    time: float
    """Wall-clock Unix seconds."""
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str
    message: str
    isvc: str
    namespace: str = "default"
    revision: str | None = None
    replica: str | None = None


class EventSink:
    """A bounded in-memory list of recent events per ISVC."""

    def __init__(self, per_isvc: int = 50) -> None:
        self._per_isvc = per_isvc
        self._events: dict[tuple[str, str], list[Event]] = {}

    def emit(self, event: Event) -> None:
        bucket = self._events.setdefault((event.namespace, event.isvc), [])
        bucket.append(event)
        del bucket[: -self._per_isvc]

    def recent(self, namespace: str, isvc: str) -> list[Event]:
        return list(self._events.get((namespace, isvc), []))

    def forget(self, namespace: str, isvc: str) -> None:
        self._events.pop((namespace, isvc), None)
