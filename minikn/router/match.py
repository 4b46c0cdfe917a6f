"""Pure Host/path matching and the weighted revision pick (no I/O, no aiohttp).

Hosts follow Knative's ``domain-template`` ``{{.Name}}.{{.Namespace}}.{{.Domain}}`` where a KServe
component's Knative Service is named ``<isvc>-<component>`` and a tagged target's name is
``tag-template`` ``{{.Tag}}-{{.Name}}``:

=============================================  =========================================
Host                                           Reaches
=============================================  =========================================
``<isvc>.<ns>.<domain>``                       the ISVC's entry component (transformer)
``<isvc>-predictor.<ns>.<domain>``             the predictor (also ``-predictor-default``)
``latest-<isvc>-predictor.<ns>.<domain>``      the predictor's revision tagged ``latest``
``<name>.<ns>``, ``<name>.<ns>.svc[.cluster.local]``  the same, cluster-local short forms
=============================================  =========================================

A Host that matches no ISVC and is not under the domain (``localhost:8080``, an IP) falls back to
the path: ``/v1/models/<name>...`` and ``/v2/models/<name>...`` reach the ISVC serving model
``<name>`` in the default namespace. ``:explain`` on an ISVC's own host reaches its explainer.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from minikn.core.delta import identity_delta
from minikn.core.errors import NotFound, Unavailable
from minikn.core.revision import ComponentName
from minikn.core.routes import ComponentRoute, IsvcRoute, RouteTable, TrafficTarget

__all__ = ["HOST_PREFIX", "Match", "RouteIndex", "pick_revision", "split_host"]

_LOCAL_SUFFIXES = ("", ".svc", ".svc.cluster.local")
DEFAULT_NAMESPACE = "default"
HOST_PREFIX = "/_host/"
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Match:
    """Where a request goes: one component of one ISVC, optionally pinned to a tag."""

    route: IsvcRoute
    component: ComponentName
    tag: str | None = None
    explicit: bool = False
    """The Host named the component (``<isvc>-predictor...``), so ``:explain`` does not redirect."""
    strip: int = 0
    """Leading characters of the path to remove before proxying (the ``/_host/<host>`` prefix)."""
    targets: tuple[TrafficTarget, ...] | None = field(default=None, compare=False, repr=False)
    """The component's traffic targets, resolved once when the index is built (None: looked up
    by :func:`pick_revision`)."""


def _resolved(
    route: IsvcRoute, component: ComponentName, tag: str | None = None, *, explicit: bool = False
) -> Match:
    comp = route.component(component)
    targets = comp.targets if comp is not None else None
    return Match(route, component, tag, explicit, targets=targets)


def _route_key(route: IsvcRoute) -> tuple[str, str]:
    return (route.namespace, route.name)


def split_host(host: str) -> str:
    """Lower-case ``host`` without its port (``[::1]:8080`` keeps its brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    return host.partition(":")[0]


class _Claims(Generic[K]):
    """Names (hosts, model names) claimed by ISVCs, the first claim winning (Knative's
    ``DomainClaim``: a name stays with the first owner until it lets go). ISVC ``foo``'s
    predictor host ``foo-predictor.<ns>...`` is also ISVC ``foo-predictor``'s own host: the later
    claimant waits and takes the name over when the owner goes, whatever order updates come in.
    Only contested names keep a waiting list."""

    __slots__ = ("owner", "waiting")

    def __init__(self) -> None:
        self.owner: dict[K, Match] = {}
        self.waiting: dict[K, dict[tuple[str, str], Match]] = {}

    def get(self, name: K) -> Match | None:
        return self.owner.get(name)

    def claim(self, name: K, match: Match) -> None:
        current = self.owner.get(name)
        key = _route_key(match.route)
        if current is None or _route_key(current.route) == key:
            self.owner[name] = match
        else:
            self.waiting.setdefault(name, {})[key] = match

    def release(self, name: K, key: tuple[str, str]) -> None:
        current = self.owner.get(name)
        waiting = self.waiting.get(name)
        if current is not None and _route_key(current.route) == key:
            if waiting:
                next_key = next(iter(waiting))
                self.owner[name] = waiting.pop(next_key)
            else:
                del self.owner[name]
        elif waiting:
            waiting.pop(key, None)
        if waiting is not None and not waiting:
            del self.waiting[name]


def _model_from_path(path: str) -> str | None:
    """``/v1/models/iris:predict`` -> ``iris``; ``/v2/models/iris/infer`` -> ``iris``."""
    for prefix in ("/v1/models/", "/v2/models/"):
        if path.startswith(prefix):
            rest = path[len(prefix) :].partition("?")[0]
            name = rest.partition("/")[0].partition(":")[0]
            return name or None
    return None


class RouteIndex:
    """A :class:`RouteTable` indexed by every host and model name it serves, kept up to date in
    place by :meth:`update` (the router holds one; the event loop is its only user)."""

    def __init__(self, table: RouteTable) -> None:
        self.domain = ""
        self._hosts: _Claims[str] = _Claims()
        self._models: _Claims[tuple[str, str]] = _Claims()
        self._routes: dict[tuple[str, str], IsvcRoute] = {}
        """The route each ISVC was indexed from (by identity, for :meth:`update`)."""
        self._table: tuple[IsvcRoute, ...] = ()
        """The routes of the last table (the next one is compared with it)."""
        self._rebuild(table)

    def _rebuild(self, table: RouteTable) -> None:
        self.domain = table.domain.lower().strip(".")
        self._hosts, self._models, self._routes = _Claims(), _Claims(), {}
        for isvc in table.isvcs:
            self._add_isvc(isvc, self._names(isvc))
        self._table = table.isvcs

    def update(self, table: RouteTable) -> None:
        """Index ``table`` instead, re-indexing only the ISVC routes that are not the same objects
        as in the last table: a table that changed one ISVC among thousands costs that one's
        names (and an identity walk of the table), not a rebuild or a copy of the index."""
        if table.domain.lower().strip(".") != self.domain:
            self._rebuild(table)  # every host name changes
            return
        changed, gone = identity_delta(self._table, table.isvcs, _route_key)
        routes = self._routes
        for key in gone:
            self._remove_isvc(routes[key])
        claimed = [(route, self._names(route)) for route in changed]
        for route, (hosts, models) in claimed:
            old = routes.get(_route_key(route))
            if old is not None:  # let go of the names it no longer has; keep its place on the rest
                self._remove_isvc(old, keep=(hosts.keys(), models.keys()))
        for route, names in claimed:
            self._add_isvc(route, names)
        self._table = table.isvcs

    def _remove_isvc(
        self,
        isvc: IsvcRoute,
        keep: tuple[Collection[str], Collection[tuple[str, str]]] = ((), ()),
    ) -> None:
        """Let go of the names that lead to ``isvc`` (but those in ``keep``); a name another ISVC
        claimed too passes to it."""
        key = _route_key(isvc)
        self._routes.pop(key, None)
        hosts, models = self._names(isvc)
        for host in hosts.keys() - keep[0]:
            self._hosts.release(host, key)
        for model in models.keys() - keep[1]:
            self._models.release(model, key)

    def _names(self, isvc: IsvcRoute) -> tuple[dict[str, Match], dict[tuple[str, str], Match]]:
        """Every host and (namespace, model) name ``isvc`` claims, with where each leads."""
        ns, hosts = isvc.namespace, {}

        def add(name: str, match: Match) -> None:
            hosts[f"{name}.{ns}.{self.domain}"] = match
            for suffix in _LOCAL_SUFFIXES:
                hosts[f"{name}.{ns}{suffix}"] = match

        entry = _resolved(isvc, isvc.entry)
        add(isvc.name, entry)
        for comp in isvc.components:
            service = f"{isvc.name}-{comp.component}"
            for svc in (service, f"{service}-default"):
                add(svc, _resolved(isvc, comp.component, explicit=True))
                for target in comp.targets:
                    if target.tag:
                        tagged = _resolved(isvc, comp.component, target.tag, explicit=True)
                        add(f"{target.tag}-{svc}", tagged)
        models = {(ns, model): entry for model in isvc.model_names or (isvc.name,)}
        return hosts, models

    def _add_isvc(
        self,
        isvc: IsvcRoute,
        names: tuple[dict[str, Match], dict[tuple[str, str], Match]],
    ) -> None:
        self._routes[_route_key(isvc)] = isvc
        hosts, models = names
        for host, match in hosts.items():
            self._hosts.claim(host, match)
        for model, match in models.items():
            self._models.claim(model, match)

    def match(self, host: str, path: str) -> Match:
        """The component a request for ``host`` and ``path`` reaches, or :class:`NotFound`.

        A path ``/_host/<host>/rest`` is routed as ``/rest`` with Host ``<host>``: replicas that
        cannot resolve ISVC host names (local processes) reach another component that way, e.g.
        ``--predictor_host 127.0.0.1:8080/_host/iris-predictor.default``.
        """
        strip = 0
        if path.startswith(HOST_PREFIX):
            host, _, rest = path[len(HOST_PREFIX) :].partition("/")
            strip = len(HOST_PREFIX) + len(host)
            path = "/" + rest
            found = self._hosts.get(split_host(host))
            if found is None:
                raise NotFound(f"no InferenceService serves host {split_host(host)!r}")
            return replace(self._explain(found, path), strip=strip)
        name = split_host(host)
        found = self._hosts.get(name)
        if found is None:
            if name.endswith("." + self.domain):
                raise NotFound(f"no InferenceService serves host {name!r}")
            model = _model_from_path(path)
            if model is None:
                raise NotFound(
                    f"host {name!r} matches no InferenceService and path {path!r} names no model"
                )
            found = self._models.get((DEFAULT_NAMESPACE, model))
            if found is None:
                raise NotFound(f"no InferenceService serves model {model!r} in namespace default")
        return self._explain(found, path)

    @staticmethod
    def _explain(found: Match, path: str) -> Match:
        if (
            not found.explicit
            and path.partition("?")[0].endswith(":explain")
            and found.route.component("explainer") is not None
        ):
            return _resolved(found.route, "explainer")
        return found


def _component(match: Match) -> ComponentRoute:
    comp = match.route.component(match.component)
    if comp is None:  # only possible for an inconsistent table
        raise NotFound(f"InferenceService {match.route.name!r} has no {match.component}")
    return comp


def pick_revision(match: Match, rng: random.Random) -> str:
    """The revision serving this request: the tagged one, else a weighted random pick.

    Targets at 0% are reachable only through their tag, as on Knative. Example: targets
    ``[(r1, 90), (r2, 10)]`` and ``rng.random() = 0.93`` -> ``0.93 * 100 = 93 >= 90`` -> ``r2``.
    """
    targets = match.targets if match.targets is not None else _component(match).targets
    if len(targets) == 1 and match.tag is None and targets[0].percent > 0:
        return targets[0].revision  # the usual single revision at 100%: no draw
    if match.tag is not None:
        for target in targets:
            if target.tag == match.tag:
                return target.revision
        raise NotFound(f"no traffic target tagged {match.tag!r}")  # pragma: no cover
    total = sum(t.percent for t in targets if t.percent > 0)
    if total <= 0:
        raise Unavailable(
            f"{match.route.name} {match.component} has no routable revision yet",
            reason="NoRoutableRevision",
            retry_after=1,
        )
    point = rng.random() * total
    for target in targets:
        if target.percent <= 0:
            continue
        point -= target.percent
        if point < 0:
            return target.revision
    return next(t.revision for t in reversed(targets) if t.percent > 0)
