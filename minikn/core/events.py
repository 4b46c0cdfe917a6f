"""Events: what happened to an ISVC, shown by ``minikn describe`` (Kubernetes Events, in short)."""

from __future__ import annotations

from collections import deque
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
    """A bounded in-memory list of recent events per ISVC, and the newest over all ISVCs, each
    numbered in emission order (so a reader can ask for only those after the last it saw)."""

    def __init__(self, per_isvc: int = 50, newest: int = 100) -> None:
        self._per_isvc = per_isvc
        self._events: dict[tuple[str, str], list[Event]] = {}
        self._newest: deque[tuple[int, Event]] = deque(maxlen=newest)
        self.emitted = 0
        """How many events were emitted: the number of the newest."""

    def emit(self, event: Event) -> None:
        bucket = self._events.setdefault((event.namespace, event.isvc), [])
        bucket.append(event)
        del bucket[: -self._per_isvc]
        self.emitted += 1
        self._newest.append((self.emitted, event))

    def after(self, number: int) -> list[tuple[int, Event]]:
        """The newest events numbered above ``number`` (at most ``newest``), oldest first."""
        if number >= self.emitted:
            return []
        return [(n, e) for n, e in self._newest if n > number]

    def recent(self, namespace: str, isvc: str) -> list[Event]:
        return list(self._events.get((namespace, isvc), []))

    def forget(self, namespace: str, isvc: str) -> None:
        self._events.pop((namespace, isvc), None)
