"""Versions and change events of the ISVCs and InferenceGraphs: ``resourceVersion``s, a bounded
history, watchers.

The hub notes each change the controller reports and, on the next loop turn (or before a read),
compares every changed object's rendered form (without the live per-revision extras) with the
last one seen (structurally, :func:`same`; no serialisation): a new object is ADDED, a
different one MODIFIED, a missing one DELETED. Each
event takes the next value of one global counter, which becomes the object's
``resourceVersion``; the counter starts from the wall clock in microseconds, so versions keep
increasing across restarts. Objects are keyed by (namespace, name): minikn gives one name to one
object of one kind, so a change's ``kind`` (the object's) tells ISVCs and graphs apart; a key
whose kind changed between two syncs (deleted, then re-created as the other kind) is DELETED as
the old kind, then ADDED.

Watchers get events in order through bounded queues; one that falls behind by more than its
queue is closed (the client re-lists and watches again, as against a cluster). A watch resumed
from a version older than the history window is answered 410 Gone (``Expired``).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from minikn.apiserver.kube.objects import KubeError, derive_uid
from minikn.controlplane.controller import Controller

__all__ = ["Change", "ObjectHub", "Watcher", "same"]

Key = tuple[str, str]


@dataclass(frozen=True)
class Change:
    rv: int
    type: str
    """ADDED, MODIFIED or DELETED."""
    key: Key
    object: dict[str, Any]

    @property
    def kind(self) -> str:
        """``InferenceService`` or ``InferenceGraph``."""
        return str(self.object.get("kind", ""))


@dataclass(eq=False)
class Watcher:
    """One watch stream's queue of changes (bounded: overflowing closes it)."""

    accept: Callable[[Change], bool]
    limit: int
    queue: deque[Change] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False

    def offer(self, change: Change) -> None:
        if self.overflowed or not self.accept(change):
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.queue.clear()
        else:
            self.queue.append(change)
        self.wake.set()


def same(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are the same JSON value: as ``==``, but a bool, an int and a float never
    equal each other (``1``, ``1.0`` and ``true`` are different documents), and NaN equals NaN.
    Subtrees shared with the stored document compare by identity, so an object whose spec did
    not change costs a walk of its metadata and status only."""
    if a is b:
        return True
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is dict:
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if ta is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or (ta is float and math.isnan(a) and math.isnan(b))


@dataclass
class _Seen:
    rv: int
    object: dict[str, Any]
    """As last rendered (compared with :func:`same` on the next change)."""
    uid: str

    @property
    def kind(self) -> str:
        return str(self.object.get("kind", ""))


class ObjectHub:
    """The ISVCs' and graphs' versions and change stream, fed by the controller's change
    notifications."""

    def __init__(
        self,
        controller: Controller,
        *,
        first_rv: int,
        history: int = 1000,
        watcher_queue: int = 1000,
        max_watchers: int = 256,
    ) -> None:
        self._ctl = controller
        self._rv = first_rv
        self._seen: dict[Key, _Seen] = {}
        self._history: deque[Change] = deque(maxlen=history)
        self._oldest = first_rv
        """The version the history starts after: a resume from an older one is 410 Gone."""
        self._watchers: set[Watcher] = set()
        self._watcher_queue = watcher_queue
        self._max_watchers = max_watchers
        self._pending: set[str] | None = None
        """``namespace/name`` keys changed since the last sync; None: compare every object."""
        self._scheduled = False
        self.lock = asyncio.Lock()
        """Held by the Kubernetes API's writes: a precondition check and its write are one step."""
        controller.add_change_listener(self.notify)

    @property
    def resource_version(self) -> int:
        self.sync()
        return self._rv

    def notify(self, keys: Collection[str]) -> None:
        """The controller changed the objects ``keys``: compare those on the next loop turn."""
        if self._pending is not None:
            self._pending.update(keys)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next read syncs
        self._scheduled = True
        loop.call_soon(self._scheduled_sync)

    def _scheduled_sync(self) -> None:
        self._scheduled = False
        self.sync()

    def sync(self) -> None:
        """Turn what changed since the last sync into events: O(changed objects), nothing when
        nothing did (the first sync reads every object)."""
        pending, self._pending = self._pending, set()
        if pending is not None and not pending:
            return
        current = self._ctl.objects(pending)
        for key, obj in current.items():
            seen = self._seen.get(key)
            if seen is not None and same(seen.object, obj):
                continue
            if seen is not None and seen.kind != obj.get("kind"):
                self._delete(key)
                seen = None
            event = "ADDED" if seen is None else "MODIFIED"
            self._rv += 1
            uid = derive_uid(str(obj.get("kind")), *key, self._ctl.created_at(*key))
            self._seen[key] = _Seen(self._rv, obj, uid)
            # Its own metadata, the rest shared with ``_seen`` and the stored document (nothing
            # downstream edits an object but its metadata): no copy of a big spec.
            own = {**obj, "metadata": dict(obj.get("metadata") or {})}
            stamped = self.stamp(key, own, self._rv, uid)
            self._publish(Change(self._rv, event, key, stamped))
        removed = (
            [k for k in self._seen if k not in current]
            if pending is None
            else [k for k in (_split(p) for p in pending) if k in self._seen and k not in current]
        )
        for key in removed:
            self._delete(key)

    def _delete(self, key: Key) -> None:
        seen = self._seen.pop(key)
        self._rv += 1
        own = {**seen.object, "metadata": dict(seen.object.get("metadata") or {})}
        gone = self.stamp(key, own, self._rv, seen.uid)
        self._publish(Change(self._rv, "DELETED", key, gone))

    def _publish(self, change: Change) -> None:
        if len(self._history) == self._history.maxlen:
            self._oldest = self._history[0].rv
        self._history.append(change)
        for w in list(self._watchers):
            w.offer(change)

    def stamp(
        self, key: Key, obj: dict[str, Any], rv: int | None = None, uid: str | None = None
    ) -> dict[str, Any]:
        """``obj`` (changed in place) with its uid and resourceVersion (the current ones unless
        given)."""
        meta = obj.setdefault("metadata", {})
        if rv is None or uid is None:
            self.sync()
            seen = self._seen.get(key)
            rv = rv if rv is not None else (seen.rv if seen is not None else self._rv)
            uid = uid or (seen.uid if seen is not None else "")
        meta["uid"] = uid
        meta["resourceVersion"] = str(rv)
        return obj

    def version_of(self, key: Key, kind: str | None = None) -> int | None:
        """The object's current version (None when absent, or when of another ``kind``)."""
        self.sync()
        seen = self._seen.get(key)
        if seen is None or (kind is not None and seen.kind != kind):
            return None
        return seen.rv

    def watch(self, accept: Callable[[Change], bool], since: int | None) -> Watcher:
        """A watcher of the changes after ``since`` (None: from now); 410 when too old."""
        self.sync()
        if len(self._watchers) >= self._max_watchers:
            raise KubeError(
                429, "TooManyRequests", f"too many watches (at most {self._max_watchers})"
            )
        w = Watcher(accept, self._watcher_queue)
        if since is not None:
            if since < self._oldest:
                raise KubeError(
                    410, "Expired", f"too old resource version: {since} ({self._oldest + 1})"
                )
            for change in self._history:
                if change.rv > since:
                    w.offer(change)
        self._watchers.add(w)
        return w

    def unwatch(self, w: Watcher) -> None:
        self._watchers.discard(w)


def _split(key: str) -> Key:
    namespace, _, name = key.partition("/")
    return (namespace, name)
