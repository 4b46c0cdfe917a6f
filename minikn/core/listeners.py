"""Upward notifications about revisions, from the replica manager and the autoscaler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from minikn.core.endpoints import Endpoint

__all__ = ["RecordingListener", "RevisionListener"]


class RevisionListener(Protocol):
    """What happened to a revision's replicas; the server wiring fans it out."""

    def endpoints_changed(self, revision: str, endpoints: Sequence[Endpoint]) -> None:
        """The ready replicas of ``revision`` are now exactly ``endpoints``."""
        ...

    def revision_ready(self, revision: str) -> None:
        """A replica of ``revision`` became ready for the first time."""
        ...

    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        """``revision`` cannot get ready (InsufficientGPU, ImageNotFound, CrashLoop, ...)."""
        ...

    def revision_recovered(self, revision: str) -> None:
        """A failure reported for ``revision`` no longer holds."""
        ...


class RecordingListener:
    """The in-tree fake: remembers every notification for tests to assert on."""

    def __init__(self) -> None:
        self.endpoints: dict[str, tuple[Endpoint, ...]] = {}
        self.ready: list[str] = []
        self.failed: list[tuple[str, str, str]] = []
        self.recovered: list[str] = []

    def endpoints_changed(self, revision: str, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints[revision] = tuple(endpoints)

    def revision_ready(self, revision: str) -> None:
        self.ready.append(revision)

    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        self.failed.append((revision, reason, message))

    def revision_recovered(self, revision: str) -> None:
        self.recovered.append(revision)
