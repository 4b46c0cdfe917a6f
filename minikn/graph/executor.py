"""Run one request through an InferenceGraph's nodes, as KServe's router's ``routeStep`` does.

Every step call goes through a :class:`Caller` (the real one, ``caller.IngressCaller``, sends
platform hosts through minikn's ingress, so steps scale from zero, split across revisions and are
metered and traced like any request). Beyond KServe's router: the last step of the root path may
stream its answer through (Server-Sent Events) instead of being read whole, each step's latency is
reported to ``observe``, and each step call carries a child of the request's W3C trace context.

Status and error semantics (KServe's): a failing call is 500 ``{"error": "Failed to process
request", "cause": ...}``; a Switch with no match 404 with "None of the routes matched with the
switch condition"; a ``Hard`` step that answers non-2xx ends its Sequence or Ensemble with its own
body and status; a ``Soft`` one does not.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from minikn.graph.decide import (
    NO_SWITCH_MATCH,
    condition_holds,
    draw_point,
    is_success,
    merge_ensemble,
    parse_json,
    pick_split,
    pick_switch,
    sequence_input,
)
from minikn.graph.spec import ROOT, GraphSpec, Step

__all__ = ["Caller", "GraphExecutor", "Reply", "RoutingFailed", "StepCallFailed"]


@dataclass
class Reply:
    """A step's (or the graph's) answer: a whole body, or a stream when the caller allowed one."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    stream: AsyncIterator[bytes] | None = None
    close: Callable[[], None] = field(default=lambda: None)


class RoutingFailed(Exception):
    """The graph cannot answer: ``status`` with KServe's routing-error body naming ``cause``."""

    def __init__(self, status: int, cause: str) -> None:
        super().__init__(cause)
        self.status = status
        self.cause = cause


class StepCallFailed(Exception):
    """A step could not be called or its answer read (the caller's transport error, translated)."""


class Caller(Protocol):
    async def call(
        self, url: str, body: bytes, headers: Sequence[tuple[str, str]], *, stream_ok: bool
    ) -> Reply:
        """POST ``body`` to ``url``; raise on a transport failure (the router answers 500)."""
        ...


Observe = Callable[[str, str, float], None]
"""(node, step label, seconds) after each service call."""
Headers = Callable[[], Sequence[tuple[str, str]]]
"""The headers of one step call (a fresh child trace context each call)."""


class GraphExecutor:
    """Routes requests through one graph (no state between requests besides the RNG)."""

    def __init__(
        self,
        graph: GraphSpec,
        caller: Caller,
        *,
        rng: random.Random | None = None,
        observe: Observe | None = None,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.graph = graph
        self._caller = caller
        self._rng = rng or random.SystemRandom()
        self._observe = observe or (lambda node, label, seconds: None)
        self._now = now

    async def run(self, request: bytes, headers: Headers, *, stream_ok: bool = True) -> Reply:
        """The graph's answer to ``request`` (RoutingFailed for KServe's error answers)."""
        return await self._node(ROOT, request, headers, stream_ok)

    async def _node(self, name: str, request: bytes, headers: Headers, stream_ok: bool) -> Reply:
        node = self.graph.nodes[name]
        if node.router_type == "Sequence":
            return await self._sequence(name, node.steps, request, headers, stream_ok)
        if node.router_type == "Ensemble":
            return await self._ensemble(name, node.steps, request, headers)
        if node.router_type == "Switch":
            step = pick_switch(request, node.steps)
            if step is None:
                raise RoutingFailed(404, NO_SWITCH_MATCH)
        else:
            step = pick_split(node.steps, draw_point(self._rng))
            if step is None:
                raise RoutingFailed(500, f"node {name}: no step was picked by weight")
        index = node.steps.index(step)
        return await self._step(name, index, step, request, headers, stream_ok=stream_ok)

    async def _step(
        self,
        node: str,
        index: int,
        step: Step,
        body: bytes,
        headers: Headers,
        *,
        stream_ok: bool,
    ) -> Reply:
        if step.node_name:
            return await self._node(step.node_name, body, headers, stream_ok)
        started = self._now()
        try:
            return await self._caller.call(step.service_url, body, headers(), stream_ok=stream_ok)
        except (StepCallFailed, OSError, TimeoutError, ValueError) as exc:
            cause = str(exc) or type(exc).__name__
            raise RoutingFailed(500, f"calling {step.service_url}: {cause}") from exc
        finally:
            self._observe(node, step.label(node, index), self._now() - started)

    async def _sequence(
        self, name: str, steps: Sequence[Step], request: bytes, headers: Headers, stream_ok: bool
    ) -> Reply:
        previous = Reply(status=0)
        for i, step in enumerate(steps):
            if step.condition is not None:
                holds = condition_holds(previous.body, step)
                if holds is None:
                    raise RoutingFailed(500, "invalid response")
                if not holds:  # the condition ends the sequence with the previous response
                    return Reply(200, previous.body, previous.content_type)
            body = sequence_input(step, i, request, previous.body)
            last = i == len(steps) - 1
            previous = await self._step(name, i, step, body, headers, stream_ok=stream_ok and last)
            if step.hard and not is_success(previous.status):
                return previous
        return previous

    async def _ensemble(
        self, name: str, steps: Sequence[Step], request: bytes, headers: Headers
    ) -> Reply:
        calls = [
            self._step(name, i, s, request, headers, stream_ok=False) for i, s in enumerate(steps)
        ]
        replies = await asyncio.gather(*calls, return_exceptions=True)
        merged: list[tuple[Step, int, Any]] = []
        for i, (step, reply) in enumerate(zip(steps, replies, strict=True)):
            if isinstance(reply, BaseException):
                raise reply
            value = parse_json(reply.body)
            if not isinstance(value, dict):
                raise RoutingFailed(
                    500, f"step {step.label(name, i)}: the response is not a JSON object"
                )
            if step.hard and not is_success(reply.status):
                body = json.dumps(value, separators=(",", ":")).encode()
                return Reply(reply.status, body, "application/json")
            merged.append((step, i, value))
        return Reply(200, merge_ensemble(merged), "application/json")
