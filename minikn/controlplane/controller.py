"""The control plane: apply/delete ISVCs, keep revisions, traffic and status, tell the data path.

``apply`` validates every document first and commits only when all are accepted, so a refused
apply changes nothing; an accepted one is published to the data plane before ``apply`` returns, and
rolled back (store and data plane) if publishing fails, so it takes effect everywhere or nowhere.

Publishing is level-triggered and never re-entrant: replica reports (``revision_ready`` ...)
recompute status at once but only mark the published view stale; the listener then gets what
should exist now, once, from the apply that is publishing or from the owned publisher task on a
later loop turn. A report made from inside a listener call (the autoscaler reports a revision
created at zero as ready from its upsert) therefore never calls back into the listener, and an
apply of N revisions publishes a bounded number of times, not N. The state is persisted by an
owned background task.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from minikn.api.deploy_mode import deployment_mode, mode_change_error
from minikn.api.documents import Document
from minikn.api.graph import GRAPH_KIND
from minikn.api.results import ApplyResult, named, validate_documents
from minikn.api.runtimes import RuntimeRegistry
from minikn.api.validate import (
    AnnotationValidator,
    ParsedGraph,
    ParsedIsvc,
    ParsedRuntime,
    parse_document,
)
from minikn.config import Settings
from minikn.controlplane.graphs import graph_resource, is_graph, plan_graph
from minikn.controlplane.persisted import encode_change
from minikn.controlplane.prevalidate import Prevalidated
from minikn.controlplane.quarantine import INVALID_SPEC, admission_rules, quarantine_invalid
from minikn.controlplane.reconcile import (
    TAG_ROUTING,
    PlanContext,
    isvc_route,
    live_revisions,
    plan_component,
    refresh,
)
from minikn.controlplane.sortedmap import SortedMap
from minikn.controlplane.state import IsvcState, PlaneState, isvc_key
from minikn.controlplane.store import StateStore
from minikn.controlplane.views import isvc_resource, revision_rows
from minikn.core.clock import Clock
from minikn.core.errors import Conflict, InvalidInput, MiniknError, NotFound
from minikn.core.events import Event, EventSink
from minikn.core.revision import RevisionSpec
from minikn.core.routes import IsvcRoute, RouteTable

__all__ = [
    "ApplyResult",
    "ApplyRolledBack",
    "ControlPlaneListener",
    "Controller",
    "validate_documents",
]
# ApplyResult and validate_documents live in results.py; re-exported here for callers.

log = logging.getLogger("minikn.controlplane.controller")

_PUBLISH_ROUNDS = 3
"""Publishes an apply makes at most before it returns. Reports made while publishing mark the
view stale again; a revision created at zero is reported ready from the first round, so two
rounds settle it. Anything still stale after this goes to the publisher task."""

_SAVE_RETRY_FIRST_S = 1.0
_SAVE_RETRY_MAX_S = 60.0
"""Backoff of the persister after a failed write (doubling from the first to the max)."""


class ApplyRolledBack(MiniknError):
    """The apply was valid and stored, but the data plane could not take it: undone (500)."""


class ControlPlaneListener(Protocol):
    """Where the controller publishes what should run and how traffic splits."""

    def revisions_changed(self, live: Sequence[RevisionSpec], routable: set[str]) -> None: ...

    def routes_changed(self, table: RouteTable) -> None: ...


class Controller:
    """Owns the applied ISVCs; implements RevisionListener minus ``endpoints_changed``."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        store: StateStore,
        registry: RuntimeRegistry,
        events: EventSink,
        listener: ControlPlaneListener | None = None,
        check_annotations: AnnotationValidator | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._store = store
        self.registry = registry
        self.events = events
        self._listener = listener
        self._check = check_annotations
        self._state = PlaneState()
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._saver: asyncio.Task[None] | None = None
        self._unsaved: set[str] = set()
        """ISVC keys changed by replica reports and not journaled yet."""
        self._runtimes_unsaved = False
        self._routes: SortedMap[IsvcRoute] = SortedMap()
        """Each ISVC's route as last published, by key (rebuilt only for ISVCs that changed)."""
        self._routes_dirty: set[str] = set()
        self._route_tuple: tuple[IsvcRoute, ...] | None = None
        self._live_of: dict[str, tuple[set[str], set[str]]] = {}
        """Each ISVC's (live, routable) revisions as last computed (rebuilt only on change)."""
        self._live_dirty: set[str] = set()
        self._live_specs: SortedMap[RevisionSpec] = SortedMap()
        """Every live revision's spec, by name; with the reference counts below, kept up to date
        from the changed ISVCs alone (a publish among 10,000 ISVCs looks at one)."""
        self._live_refs: dict[str, int] = {}
        self._routable_refs: dict[str, int] = {}
        self._live_version = 0
        """Bumped when ``live()`` changed; with ``_route_version``, what was last published."""
        self._route_version = 0
        self._published: tuple[int, int] | None = None
        """Every live revision's name, sorted, and the routable ones (None: to recompute)."""
        self._owners: dict[str, dict[str, str]] = {}
        """name -> {namespace: kind} of the stored ISVCs and graphs (revision names are global)."""
        self._reports = 0
        """Replica reports so far (a write during which none landed has nothing to merge)."""
        self._stale = True
        """The listener's view is behind the state (set by every change, cleared by a publish)."""
        self._publishing = False
        self._wanted = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self.status_extras: Callable[[str], dict[str, Any]] | None = None
        """Hook: per-revision extras (autoscaler, replicas) merged into GET responses."""
        self._change_listeners: list[Callable[[Collection[str]], None]] = []
        self._rules = admission_rules(settings, check_annotations)
        """The admission rules' fingerprint recorded with each accepted ISVC."""
        self._applied: dict[str, str] = {}
        """ISVC key -> content digest of the document its record was planned from by an apply
        (while the runtimes have not changed since): a re-apply of it is a no-op."""

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore the saved state, publish it, start the persister."""
        self._state = await asyncio.to_thread(self._store.load)
        refused = quarantine_invalid(self._state, self.settings, self._check, rules=self._rules)
        for doc in self._state.runtimes:
            self.registry.add(doc)
        now = self._clock.time()
        for isvc in self._state.isvcs.values():
            refresh(isvc, ready=self._state.ready, failures=self._state.failures, now=now)
        log.info(
            "restored %d isvcs, %d revisions", len(self._state.isvcs), len(self._state.revisions)
        )
        for isvc, message in refused:  # kept visible and deletable, but nothing of it runs
            self._emit(isvc, INVALID_SPEC, message, warning=True)
            self._unsaved.add(isvc.key)
            self._dirty.set()
        self._routes, self._route_tuple = SortedMap(), None
        self._live_of, self._live_specs = {}, SortedMap()
        self._live_refs, self._routable_refs = {}, {}
        self._published = None
        self._owners = {}
        self._index_owners(self._state, self._state.isvcs)
        self._publish()
        self._saver = asyncio.create_task(self._persist_loop(), name="minikn.platform.persist")
        self._publisher = asyncio.create_task(self._publish_loop(), name="minikn.platform.publish")

    async def close(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
            self._publisher = None
        if self._saver is not None:
            self._saver.cancel()
            await asyncio.gather(self._saver, return_exceptions=True)
            self._saver = None
        async with self._lock:
            await self._save()
            # One snapshot for the next start to read, instead of a journal to replay.
            await asyncio.to_thread(self._store.save, self._state)

    async def _save(self) -> None:
        """Journal what replica reports changed since the last write (the ISVCs they touched)."""
        keys, runtimes = self._unsaved, self._runtimes_unsaved
        self._unsaved, self._runtimes_unsaved = set(), False
        self._dirty.clear()
        if not keys and not runtimes:
            return
        change = encode_change(self._state, keys, runtimes=runtimes)
        try:
            await asyncio.to_thread(self._store.write_change, change)
        except BaseException:
            self._unsaved |= keys
            self._runtimes_unsaved |= runtimes
            raise

    async def _compact_if_due(self) -> None:
        """Snapshot the whole state once the journal outgrew the last snapshot (amortized O(1)
        per change: the journal grew by at least the snapshot's size since)."""
        if self._store.needs_compaction:
            snapshot = shallow_copy(self._state)  # the thread reads it while reports land
            await asyncio.to_thread(self._store.save, snapshot)

    async def _commit(
        self,
        state: PlaneState,
        keys: set[str],
        *,
        runtimes: bool = False,
        reports: int | None = None,
    ) -> None:
        """Persist ``state``'s ISVCs ``keys``, then make ``state`` current: a failed write changes
        nothing.

        Replica reports may arrive while the journal is written (they do not wait for the lock);
        they went into the current state, so they are merged into ``state`` instead of lost.
        ``reports``: the report count when ``state`` was copied from the current state (nothing to
        merge when none landed since); None: always merge.
        """
        always = reports is None
        saved = (set(state.ready), dict(state.failures))
        change = encode_change(state, keys, runtimes=runtimes)
        await asyncio.to_thread(self._store.write_change, change)
        if always or self._reports != reports:  # reports landed in the current state since
            merge_reports(state, self._state, saved, self._clock.time())
            if (state.ready, state.failures) != saved:
                self._dirty.set()
        self._state = state
        self._index_owners(state, keys)
        self._notify_changed(keys)

    def _index_owners(self, state: PlaneState, keys: Collection[str]) -> None:
        """Bring the name index up to date for the ISVCs ``keys`` of ``state``."""
        for key in keys:
            namespace, _, name = key.partition("/")
            isvc = state.isvcs.get(key)
            held = self._owners.get(name)
            if isvc is not None:
                if held is None:
                    held = self._owners[name] = {}
                held[namespace] = _kind_of(isvc)
            elif held is not None:
                held.pop(namespace, None)
                if not held:
                    del self._owners[name]

    async def _persist_loop(self) -> None:
        """Save after each change; after a failed write, retry with backoff (not on the next
        change, which may never come): 1 s, 2 s, 4 s ... up to 60 s, on the injected clock."""
        delay = _SAVE_RETRY_FIRST_S
        while True:
            await self._dirty.wait()
            try:
                async with self._lock:
                    await self._save()
                    await self._compact_if_due()
            except OSError:
                log.exception("cannot save the control-plane state; retrying in %.0f s", delay)
                self._dirty.set()  # the state is still unsaved
                await self._clock.sleep(delay)
                delay = min(delay * 2, _SAVE_RETRY_MAX_S)
            else:
                delay = _SAVE_RETRY_FIRST_S

    # --- apply/delete --------------------------------------------------------------------------

    def _plan(
        self, state: PlaneState, registry: RuntimeRegistry, parsed: ParsedIsvc, doc: Document
    ) -> ApplyResult:
        """Plan one ISVC into ``state``: its record, then its components' revisions."""
        now = self._clock.time()
        old = state.isvcs.get(isvc_key(parsed.namespace, parsed.name))
        isvc = _next_isvc(old, parsed, now, self.settings)
        isvc.admitted = self._rules
        ctx = PlanContext(
            isvc=parsed.name,
            namespace=parsed.namespace,
            meta_annotations=parsed.annotations,
            settings=self.settings,
            registry=registry,
            now=now,
        )
        created, warnings = _plan_components(state, isvc, ctx, parsed, doc)
        state.isvcs[isvc.key] = isvc
        return ApplyResult(
            doc.where(),
            "InferenceService",
            parsed.name,
            parsed.namespace,
            _action(old, parsed, created),
            created,
            warnings,
        )

    def _plan_graph(
        self, state: PlaneState, parsed: ParsedGraph, doc: Document, create_only: bool
    ) -> ApplyResult:
        if create_only and isvc_key(parsed.namespace, parsed.name) in state.isvcs:
            raise Conflict(f'inferencegraphs "{parsed.name}" already exists')
        now = self._clock.time()
        return plan_graph(state, parsed, doc.where(), settings=self.settings, now=now)

    @property
    def prevalidates(self) -> bool:
        """Whether :meth:`apply` takes documents validated elsewhere by :func:`prevalidate` (its
        annotation validator is the default one, a function of the settings alone)."""
        return self._check is None

    async def apply(
        self,
        docs: Sequence[Document],
        *,
        create_only: bool = False,
        prevalidated: Sequence[Prevalidated] | None = None,
    ) -> list[ApplyResult]:
        """Validate all documents, then commit all of them or none (InvalidInput names each).

        ``prevalidated``: :func:`prevalidate` of ``docs`` with these settings (done off the event
        loop), taken instead of validating here when :attr:`prevalidates`."""
        if prevalidated is not None and (not self.prevalidates or len(prevalidated) != len(docs)):
            prevalidated = None
        async with self._lock:
            state = shallow_copy(self._state)  # copy-on-write: _plan copies what it touches
            reports = self._reports
            registry = self.registry  # copied before the first change (a runtime document)
            owners: dict[str, tuple[str, str]] = {}  # this apply's; then the stored ones
            results: list[ApplyResult] = []
            problems: list[str] = []
            runtimes = False
            unchanged: set[int] = set()
            """Results of documents equal to what is stored: nothing planned, nothing written."""
            digests: dict[str, str | None] = {}
            """ISVC key -> digest of the document planned for it (None: not known)."""
            for i, doc in enumerate(docs):
                try:
                    if not runtimes and not create_only and self._is_unchanged(doc, digests):
                        results.append(self._unchanged(doc, owners))
                        unchanged.add(len(results) - 1)
                        continue
                    parsed = _validated(doc, None if prevalidated is None else prevalidated[i])
                    parsed = parsed or parse_document(doc, self.settings, self._check)
                    if isinstance(parsed, ParsedRuntime):
                        if registry is self.registry:
                            registry = copy.deepcopy(registry)
                        registry.add(parsed.doc)
                        state.runtimes = [
                            d
                            for d in state.runtimes
                            if d.get("metadata", {}).get("name") != parsed.name
                        ]
                        state.runtimes.append(parsed.doc)
                        runtimes = True
                        results.append(
                            ApplyResult(doc.where(), parsed.kind, parsed.name, "", "configured")
                        )
                        continue
                    if isinstance(parsed, ParsedGraph):
                        results.append(self._plan_graph(state, parsed, doc, create_only))
                        state.isvcs[isvc_key(parsed.namespace, parsed.name)].admitted = self._rules
                        owners[parsed.name] = (parsed.namespace, GRAPH_KIND)
                        continue
                    if create_only and isvc_key(parsed.namespace, parsed.name) in state.isvcs:
                        raise Conflict(f'inferenceservices "{parsed.name}" already exists')
                    _check_name_is_free(owners, self._owners, parsed.name, parsed.namespace, doc)
                    result = self._plan(state, registry, parsed, doc)
                    results.append(result)
                    owners[parsed.name] = (parsed.namespace, "InferenceService")
                    key = isvc_key(parsed.namespace, parsed.name)
                    digests[key] = None if result.warnings or runtimes else doc.digest
                except InvalidInput as exc:
                    problems.append(named(doc, exc))
            if problems:
                raise InvalidInput("\n".join(problems), reason="Invalid")
            if len(unchanged) == len(results):
                return results  # kubectl apply of what is stored: a no-op
            now = self._clock.time()
            touched = [
                None if i in unchanged else state.isvcs.get(isvc_key(r.namespace, r.name))
                for i, r in enumerate(results)
            ]
            for isvc in touched:
                if isvc is not None:
                    refresh(isvc, ready=state.ready, failures=state.failures, now=now)
            keys = {
                isvc_key(r.namespace, r.name)
                for i, r in enumerate(results)
                if r.kind in ("InferenceService", GRAPH_KIND) and i not in unchanged
            }
            previous, previous_registry = self._state, self.registry
            await self._commit(state, keys, runtimes=runtimes, reports=reports)
            self._note_applied(keys, digests, runtimes=runtimes)
            self.registry = registry
            self._routes_changed(keys)
            self._stale = True
            try:
                self._publish()
            except Exception as exc:
                await self._roll_back(previous, previous_registry, keys, runtimes, exc)
            for r, isvc in zip(results, touched, strict=True):
                if isvc is not None:
                    for rev in r.revisions:
                        self._emit(isvc, "RevisionCreated", f"created revision {rev}", revision=rev)
                    for reason, message in r.warnings:
                        self._emit(isvc, reason, message, warning=True)
        return results

    def apply_unchanged(self, docs: Sequence[Document]) -> list[ApplyResult] | None:
        """The results of applying ``docs`` when every one is an ISVC document equal to the one
        stored (by :attr:`Document.digest`; the bodies need not be there): all ``unchanged``,
        nothing done. None when any is not: :meth:`apply` them. Reads the committed state
        only (no await), so it needs no lock."""
        owners: dict[str, tuple[str, str]] = {}
        results = []
        for doc in docs:
            if not self._is_unchanged(doc, ()):
                return None
            try:
                results.append(self._unchanged(doc, owners))
            except Conflict:
                return None  # apply says why
        return results or None

    def _unchanged(self, doc: Document, owners: dict[str, tuple[str, str]]) -> ApplyResult:
        """The result of an ISVC document equal to the stored one (:meth:`_is_unchanged`), its
        name taken in ``owners``; Conflict when this apply gave the name to another kind."""
        _check_name_is_free(owners, self._owners, doc.name, doc.namespace, doc)
        owners[doc.name] = (doc.namespace, "InferenceService")
        return ApplyResult(doc.where(), doc.kind, doc.name, doc.namespace, "unchanged")

    def _is_unchanged(self, doc: Document, planned: Collection[str]) -> bool:
        """``doc`` is an ISVC document equal to the one its stored ISVC was planned from, with
        the runtimes of then, and this apply planned nothing for that ISVC before it: applying
        it would change nothing (planning is a function of the document, the runtimes and the
        settings)."""
        if doc.digest is None or doc.kind != "InferenceService":
            return False
        key = isvc_key(doc.namespace, doc.name)
        return (
            key not in planned and key in self._state.isvcs and self._applied.get(key) == doc.digest
        )

    def _note_applied(
        self, keys: Collection[str], digests: dict[str, str | None], *, runtimes: bool
    ) -> None:
        """Remember the digest of the document each ISVC of ``keys`` was planned from; a change
        of the runtimes may plan any document differently: every digest is forgotten."""
        if runtimes:
            self._applied.clear()
        for key in keys:
            digest = digests.get(key)
            if digest is None or runtimes:
                self._applied.pop(key, None)
            else:
                self._applied[key] = digest

    async def _roll_back(
        self,
        previous: PlaneState,
        registry: RuntimeRegistry,
        keys: set[str],
        runtimes: bool,
        exc: Exception,
    ) -> None:
        """Undo a stored apply the data plane refused: the old state, stored and published."""
        log.error("apply could not be published; rolling it back", exc_info=exc)
        await self._commit(shallow_copy(previous), keys, runtimes=runtimes)
        self._note_applied(keys, {}, runtimes=runtimes)
        self.registry = registry
        self._routes_changed(keys)
        self._stale = True
        try:
            self._publish()
        except Exception:
            log.exception("publishing the rolled-back state failed; the publisher will retry")
            self._mark_stale()
        raise ApplyRolledBack(
            f"the apply was not applied (store and data plane are unchanged): publishing it "
            f"to the data plane failed: {type(exc).__name__}: {exc}",
            reason="ApplyRolledBack",
        ) from exc

    async def delete(self, namespace: str, name: str, *, kind: str = "InferenceService") -> None:
        async with self._lock:
            self._get(namespace, name, kind=kind)
            state = shallow_copy(self._state)
            reports = self._reports
            key = isvc_key(namespace, name)
            isvc = state.isvcs.pop(key)
            for cs in isvc.components.values():
                _forget(state, cs.revisions)
            await self._commit(state, {key}, reports=reports)
            self._applied.pop(key, None)
            self._routes_changed({key})
            self.events.forget(namespace, name)
            self._stale = True
            self._publish()
        log.info("deleted isvc %s/%s", namespace, name)

    # --- replica reports (RevisionListener) ----------------------------------------------------

    def _owner(self, revision: str) -> IsvcState | None:
        spec = self._state.revisions.get(revision)
        return None if spec is None else self._state.isvcs.get(isvc_key(spec.namespace, spec.isvc))

    def _changed(self, isvc: IsvcState) -> None:
        self._reports += 1
        refresh(
            isvc,
            ready=self._state.ready,
            failures=self._state.failures,
            now=self._clock.time(),
        )
        self._unsaved.add(isvc.key)
        self._routes_changed({isvc.key})
        self._dirty.set()
        self._mark_stale()
        self._notify_changed({isvc.key})

    def revision_ready(self, revision: str) -> None:
        """A replica of ``revision`` is ready: the revision is, and a failure recorded for it no
        longer holds. The replica manager reports recovery itself only for a failure it saw;
        one restored from the state file (recorded before a restart) is cleared here."""
        isvc = self._owner(revision)
        if isvc is None:
            return
        fresh = revision not in self._state.ready
        stale = self._state.failures.pop(revision, None) is not None
        if not fresh and not stale:
            return
        if fresh:
            self._state.ready.add(revision)
            self._emit(isvc, "RevisionReady", f"revision {revision} is ready", revision=revision)
        if stale:
            self._emit(
                isvc, "RevisionRecovered", f"revision {revision} recovered", revision=revision
            )
        self._changed(isvc)

    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        isvc = self._owner(revision)
        if isvc is None or self._state.failures.get(revision) == (reason, message):
            return
        self._state.failures[revision] = (reason, message)
        self._emit(isvc, reason, message, revision=revision, warning=True)
        self._changed(isvc)

    def revision_recovered(self, revision: str) -> None:
        isvc = self._owner(revision)
        if isvc is None or self._state.failures.pop(revision, None) is None:
            return
        self._emit(isvc, "RevisionRecovered", f"revision {revision} recovered", revision=revision)
        self._changed(isvc)

    # --- reads ---------------------------------------------------------------------------------

    def _get(self, namespace: str, name: str, *, kind: str = "InferenceService") -> IsvcState:
        isvc = self._state.isvcs.get(isvc_key(namespace, name))
        if isvc is None or is_graph(isvc) != (kind == GRAPH_KIND):
            plural = "inferencegraphs" if kind == GRAPH_KIND else "inferenceservices"
            raise NotFound(f'{plural} "{name}" not found in namespace {namespace}')
        return isvc

    def resource(self, isvc: IsvcState, *, shared: bool = False) -> dict[str, Any]:
        """The ISVC (or graph) as the API returns it: the applied document plus a KServe status.
        ``shared``: only the top level, ``metadata`` and ``status`` are the caller's own, the
        rest is the stored document's (for readers that edit nothing else: no copy of a spec)."""
        if is_graph(isvc):
            return graph_resource(isvc, self.settings, self.status_extras)
        return isvc_resource(isvc, self.settings, self.status_extras, shared=shared)

    def get(self, namespace: str, name: str, *, kind: str = "InferenceService") -> dict[str, Any]:
        return self.resource(self._get(namespace, name, kind=kind))

    def list_isvcs(
        self, namespace: str | None = None, *, kind: str = "InferenceService", shared: bool = False
    ) -> list[dict[str, Any]]:
        """Every ISVC (or graph) in ``namespace`` as the API returns it (``shared``: as in
        :meth:`resource`)."""
        return [
            self.resource(i, shared=shared)
            for _, i in sorted(self._state.isvcs.items())
            if (namespace is None or i.namespace == namespace)
            and is_graph(i) == (kind == GRAPH_KIND)
        ]

    # --- list paging (minikn.apiserver.paging picks the page of these keys) -------------------

    @property
    def clock(self) -> Clock:
        return self._clock

    def isvc_keys(
        self, namespace: str | None = None, *, kind: str = "InferenceService"
    ) -> list[str]:
        """``namespace/name`` of every ISVC (or graph) in ``namespace``, sorted: the list order."""
        graphs = kind == GRAPH_KIND
        prefix = "" if namespace is None else namespace + "/"
        return sorted(
            k
            for k, i in self._state.isvcs.items()
            if k.startswith(prefix) and is_graph(i) == graphs
        )

    def resources(self, keys: Sequence[str], *, shared: bool = False) -> list[dict[str, Any]]:
        """The API view of the ISVCs ``keys`` that still exist, in that order (``shared``: as
        in :meth:`resource`)."""
        isvcs = self._state.isvcs
        return [self.resource(isvcs[k], shared=shared) for k in keys if k in isvcs]

    def revisions(
        self, namespace: str, name: str, *, kind: str = "InferenceService"
    ) -> list[RevisionSpec]:
        isvc = self._get(namespace, name, kind=kind)
        names = [r for cs in isvc.components.values() for r in cs.revisions]
        return [self._state.revisions[r] for r in names if r in self._state.revisions]

    def revision_states(
        self, namespace: str, name: str, *, kind: str = "InferenceService"
    ) -> list[dict[str, Any]]:
        """Each revision with its traffic share, readiness and failure (``minikn revisions``)."""
        isvc = self._get(namespace, name, kind=kind)
        return revision_rows(isvc, self.revisions(namespace, name, kind=kind), self._state)

    def recent_events(
        self, namespace: str, name: str, *, kind: str = "InferenceService"
    ) -> list[Event]:
        self._get(namespace, name, kind=kind)
        return self.events.recent(namespace, name)

    def live(self) -> tuple[list[RevisionSpec], set[str]]:
        """The live revisions (sorted by name) and the routable ones; only ISVCs changed since
        the last call are looked at again."""
        isvcs, revisions = self._state.isvcs, self._state.revisions
        if not self._live_of and isvcs:
            self._live_dirty = set(isvcs)
        changed = False
        for key in self._live_dirty:
            old_live, old_routable = self._live_of.pop(key, _NO_REVISIONS)
            isvc = isvcs.get(key)
            new_live, new_routable = _NO_REVISIONS if isvc is None else live_revisions(isvc)
            if isvc is not None:
                self._live_of[key] = (new_live, new_routable)
            for rev in old_live - new_live:
                if _unref(self._live_refs, rev):
                    changed |= self._live_specs.remove(rev)
            for rev in new_live - old_live:
                self._live_refs[rev] = self._live_refs.get(rev, 0) + 1
            for rev in new_live:  # a revision's spec is replaced only with its ISVC's change
                spec = revisions.get(rev)
                if spec is None:
                    changed |= self._live_specs.remove(rev)
                else:
                    changed |= self._live_specs.set(rev, spec)
            for rev in old_routable - new_routable:
                changed |= _unref(self._routable_refs, rev)
            for rev in new_routable - old_routable:
                count = self._routable_refs.get(rev, 0)
                self._routable_refs[rev] = count + 1
                changed |= count == 0
        self._live_dirty = set()
        if changed:
            self._live_version += 1
        return self._live_specs.values(), set(self._routable_refs)

    def route_table(self) -> RouteTable:
        """The routes of every ISVC; only those of ISVCs changed since the last call are built
        again (unchanged ones are the same objects, which the router's index relies on)."""
        if not len(self._routes) and self._state.isvcs:
            self._routes_dirty = set(self._state.isvcs)
        changed = self._route_tuple is None
        for key in self._routes_dirty:
            isvc = self._state.isvcs.get(key)
            if isvc is None:
                changed |= self._routes.remove(key)
            else:
                route = isvc_route(isvc)
                if route != self._routes.get(key):
                    changed |= self._routes.set(key, route)
        self._routes_dirty = set()
        if changed or self._route_tuple is None:
            self._route_tuple = tuple(self._routes.values())
            self._route_version += 1
        return RouteTable.model_construct(
            domain=self.settings.kserve.ingress.ingress_domain, isvcs=self._route_tuple
        )

    def _routes_changed(self, keys: set[str]) -> None:
        self._routes_dirty |= keys
        self._live_dirty |= keys

    # --- change notifications (the Kubernetes API's versions and watches) ----------------------

    def add_change_listener(self, callback: Callable[[Collection[str]], None]) -> None:
        """Call ``callback(keys)`` (synchronously, on the loop) after every change of the state
        (an apply, a delete, a replica report) with the ``namespace/name`` keys it touched. It
        must only note the change (never call back in)."""
        self._change_listeners.append(callback)

    def _notify_changed(self, keys: Collection[str]) -> None:
        for callback in self._change_listeners:
            try:
                callback(keys)
            except Exception:
                log.exception("a change listener failed")

    def objects(self, keys: Collection[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """The ISVCs and InferenceGraphs ``keys`` (None: every one) that exist, as the API returns
        them without the live per-revision extras (what a change of ``resourceVersion`` is decided
        on), keyed by (namespace, name); the object's ``kind`` tells them apart. Read-only: an
        ISVC's spec is the stored document's own."""
        isvcs = self._state.isvcs
        chosen = sorted(isvcs) if keys is None else sorted(k for k in keys if k in isvcs)
        return {
            (isvcs[k].namespace, isvcs[k].name): (
                graph_resource(isvcs[k], self.settings, None)
                if is_graph(isvcs[k])
                else isvc_resource(isvcs[k], self.settings, None, shared=True)
            )
            for k in chosen
        }

    def views(self, keys: Collection[str]) -> dict[str, dict[str, Any] | None]:
        """The ISVCs and graphs ``keys`` as the API returns them but without the live
        per-revision extras, by key (None: no longer exists): what a view that keeps rendered
        rows re-renders after a change notification."""
        isvcs = self._state.isvcs
        out: dict[str, dict[str, Any] | None] = {}
        for key in keys:
            isvc = isvcs.get(key)
            if isvc is None:
                out[key] = None
            elif is_graph(isvc):
                out[key] = graph_resource(isvc, self.settings, None)
            else:
                out[key] = isvc_resource(isvc, self.settings, None)
        return out

    def created_at(self, namespace: str, name: str) -> float:
        """When the ISVC (or graph) was first created (its ``uid`` is derived from it)."""
        record = self._state.isvcs.get(isvc_key(namespace, name))
        if record is None:
            raise NotFound(f'"{name}" not found in namespace {namespace}')
        return record.created_at

    # --- helpers -------------------------------------------------------------------------------

    def _mark_stale(self) -> None:
        """Something the listener sees changed: publish on a later loop turn (never from here)."""
        self._stale = True
        self._wanted.set()

    def _publish(self, rounds: int = _PUBLISH_ROUNDS) -> None:
        """Tell the listener what should exist now, until nothing changed while telling it.

        Never re-entrant: a report that arrives during a listener call only marks the view stale,
        and the next round (or the publisher task) carries it.
        """
        if self._publishing:
            self._mark_stale()
            return
        self._publishing = True
        try:
            for _ in range(rounds):
                if not self._stale:
                    return
                self._stale = False
                if self._listener is None:
                    continue
                live, routable = self.live()
                table = self.route_table()
                versions = (self._live_version, self._route_version)
                if versions == self._published:
                    continue  # the listener holds exactly this already (level-triggered)
                self._published = None
                self._listener.revisions_changed(live, routable)
                self._listener.routes_changed(table)
                self._published = versions
        except BaseException:
            self._stale = True  # what failed to publish is still to publish
            raise
        finally:
            self._publishing = False
        if self._stale:
            self._wanted.set()

    async def _publish_loop(self) -> None:
        """Publish changes that replica reports marked, once per wake-up (coalesced)."""
        while True:
            await self._wanted.wait()
            await asyncio.sleep(0)  # one loop turn: reports made in this turn share the publish
            self._wanted.clear()
            try:
                self._publish(rounds=1)
            except Exception:
                log.exception("publishing to the data plane failed; will retry on the next change")

    def publish_pending(self) -> None:
        """Publish what reports marked, now, instead of on the publisher's next turn."""
        self._publish()

    def _emit(
        self,
        isvc: IsvcState,
        reason: str,
        message: str,
        *,
        revision: str | None = None,
        warning: bool = False,
    ) -> None:
        log.info("isvc %s/%s: %s: %s", isvc.namespace, isvc.name, reason, message)
        self.events.emit(
            Event(
                time=self._clock.time(),
                type="Warning" if warning else "Normal",
                reason=reason,
                message=message,
                isvc=isvc.name,
                namespace=isvc.namespace,
                revision=revision,
            )
        )


_NO_REVISIONS: tuple[set[str], set[str]] = (set(), set())


def _unref(refs: dict[str, int], name: str) -> bool:
    """Drop one reference to ``name``; True when that was the last."""
    count = refs.get(name, 0) - 1
    if count > 0:
        refs[name] = count
        return False
    return refs.pop(name, None) is not None


def shallow_copy(state: PlaneState) -> PlaneState:
    """A copy of ``state``'s containers sharing its ISVC records: an apply replaces the records
    it touches (``_next_isvc`` copies one) instead of deep-copying every ISVC."""
    return PlaneState.model_construct(
        isvcs=dict(state.isvcs),
        revisions=dict(state.revisions),
        ready=set(state.ready),
        failures=dict(state.failures),
        runtimes=list(state.runtimes),
    )


def merge_reports(
    state: PlaneState, current: PlaneState, saved: tuple[set[str], dict[str, Any]], now: float
) -> None:
    """Carry replica reports that landed in ``current`` while ``state`` was written into
    ``state``; the ISVCs whose revisions they concern are copied, then refreshed."""
    state.ready = {r for r in current.ready if r in state.revisions}
    state.failures = {r: f for r, f in current.failures.items() if r in state.revisions}
    ready, failures = saved
    moved = (state.ready ^ ready) | {
        r
        for r in state.failures.keys() | failures.keys()
        if state.failures.get(r) != failures.get(r)
    }
    for rev in moved:
        spec = state.revisions.get(rev)
        key = None if spec is None else isvc_key(spec.namespace, spec.isvc)
        if key is not None and key in state.isvcs:
            isvc = state.isvcs[key].model_copy(deep=True)
            refresh(isvc, ready=state.ready, failures=state.failures, now=now)
            state.isvcs[key] = isvc


def _forget(state: PlaneState, revisions: Sequence[str]) -> None:
    gone = set(revisions)
    for rev in gone:
        state.revisions.pop(rev, None)
        state.failures.pop(rev, None)
    state.ready -= gone


# --- planning one ISVC (steps of Controller._plan) ---------------------------------------------


def _kind_of(record: IsvcState) -> str:
    return GRAPH_KIND if is_graph(record) else "InferenceService"


def _validated(
    doc: Document, done: Prevalidated
) -> ParsedIsvc | ParsedRuntime | ParsedGraph | None:
    """The document as validated by :func:`prevalidate`, raising the InvalidInput it met
    (named for ``doc`` as :func:`parse_document` names it); None: not validated there."""
    if isinstance(done, InvalidInput):
        raise InvalidInput(done.message, reason=done.reason)
    return done


def _check_name_is_free(
    owners: dict[str, tuple[str, str]],
    stored: dict[str, dict[str, str]],
    name: str,
    namespace: str,
    doc: Document,
) -> None:
    """Revision names and hosts are global in minikn: one name, one ISVC in one namespace
    (``owners``: name -> (namespace, kind) planned by this apply; ``stored``: name ->
    {namespace: kind} of what the state holds)."""
    mine = (namespace, "InferenceService")
    other = owners.get(name)
    if other is None:
        other = next((o for o in stored.get(name, {}).items() if o != mine), None)
    if other is not None and other != mine:
        other_namespace, kind = other
        raise Conflict(
            f"{doc.where()}: metadata.name: an {kind} named {name} "
            f"exists in namespace {other_namespace} (revision names are global in minikn)"
        )


def _next_isvc(
    old: IsvcState | None, parsed: ParsedIsvc, now: float, settings: Settings
) -> IsvcState:
    """The ISVC's record with the applied document (a copy; generation +1 on a spec change).

    The deployment mode is fixed at creation; an update whose annotation names another mode is
    refused with KServe's message."""
    if old is None:
        isvc = IsvcState(
            name=parsed.name,
            namespace=parsed.namespace,
            api_version=parsed.api_version,
            doc=parsed.doc,
            created_at=now,
            updated_at=now,
            deployment_mode=deployment_mode(
                parsed.annotations, settings.kserve.deploy.default_deployment_mode
            ),
        )
    else:
        refused = mode_change_error(old.deployment_mode, parsed.annotations)
        if refused is not None:
            raise InvalidInput(refused)
        # A deep copy of everything but the old document, which the applied one replaces (a big
        # spec is not copied only to be thrown away).
        isvc = old.model_copy(update={"doc": {}}).model_copy(deep=True)
        if old.doc.get("spec") != parsed.doc.get("spec"):
            isvc.generation += 1
    isvc.doc, isvc.api_version, isvc.updated_at = parsed.doc, parsed.api_version, now
    isvc.tag_routing = parsed.annotations.get(TAG_ROUTING, "").lower() == "true"
    return isvc


def _plan_components(
    state: PlaneState, isvc: IsvcState, ctx: PlanContext, parsed: ParsedIsvc, doc: Document
) -> tuple[list[str], list[tuple[str, str]]]:
    """Plan each component into ``isvc`` and ``state``: (revisions created, warnings).

    A component no longer in the spec (a removed transformer/explainer) takes its revisions along.
    """
    created: list[str] = []
    warnings: list[tuple[str, str]] = []
    components = {}
    for name, intent in parsed.components.items():
        try:
            planned = plan_component(isvc.components.get(name), ctx, name, intent)
        except InvalidInput as exc:
            raise InvalidInput(f"{doc.where()}: spec.{name}: {exc.message}") from exc
        components[name] = planned.state
        for rev in planned.created:
            state.revisions[rev.name] = rev
            created.append(rev.name)
        warnings.extend(planned.errors)
    for name, cs in isvc.components.items():
        if name not in components:
            _forget(state, cs.revisions)
    isvc.components = components
    return created, warnings


def _action(old: IsvcState | None, parsed: ParsedIsvc, created: Sequence[str]) -> str:
    if old is None:
        return "created"
    return "configured" if created or old.doc != parsed.doc else "unchanged"
