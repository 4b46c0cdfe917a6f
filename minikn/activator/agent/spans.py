"""One hop's OpenTelemetry spans: the ingress, the activator's wait, the proxied call.

The hop's forwarded ``traceparent`` names the *proxy* span, so the replica's own spans (the model
server's request, preprocess, predict, postprocess) are its children; the proxy and wait spans are
children of the hop's ingress span, whose parent is the caller's span (a transformer's predict
step, when the hop is the transformer -> predictor call) or none (the trace starts here). The wait
span is there when the request waited for a replica slot (:data:`WAIT_SPAN_MIN_S`).

A sampled hop is recorded without leaving the activator's fast lane: the trace layer's
``prepare`` opens it (:func:`open_hop`) and puts its end in ``request.ctx.on_finish``, which the
activator calls from its accounting step when the request is over, on either lane. The hop goes
to the tracer as one tuple; building and encoding its spans happens off the data path.
"""

from __future__ import annotations

import random
import time

from minikn.activator.agent.trace import TraceHop
from minikn.core.clock import Clock
from minikn.telemetry.tracing import Tracer
from minikn.wire.http import RequestContext

__all__ = ["WAIT_SPAN_MIN_S", "OpenHop", "hop_ids", "hop_sampled", "open_hop"]

WAIT_SPAN_MIN_S = 0.001
"""The activator's wait gets a span when the request waited at least this long for a replica
slot (buffered: a cold start or no free capacity); a warm request's wait is not worth one."""

_LOW64 = (1 << 64) - 1
_SAMPLED_FLAGS = frozenset("13579bdf")


def hop_sampled(tracer: Tracer, trace_id: int, parent_flags: str | None) -> bool:
    """ParentBased(TraceIdRatioBased): a caller's sampled flag wins, else the trace id's low
    64 bits under the tracer's threshold."""
    if parent_flags is not None:
        return parent_flags[-1:] in _SAMPLED_FLAGS
    return (trace_id & _LOW64) < tracer.threshold


class OpenHop:
    """A sampled hop under way: its ids and start. It is the request's ``ctx.on_finish``:
    called with the status code, it records the hop (once)."""

    __slots__ = ("ctx", "ingress", "monotonic", "parent", "proxy", "rng", "started", "trace",
                 "tracer", "where")  # fmt: skip

    def __init__(  # noqa: PLR0917 - one per sampled request
        self,
        ctx: RequestContext,
        tracer: Tracer,
        clock: Clock,
        rng: random.Random,
        ids: tuple[int, int, int],
        where: tuple[str, str, str, str],
    ) -> None:
        self.ctx = ctx
        self.tracer = tracer
        self.monotonic = clock.monotonic
        self.rng = rng
        self.trace, self.proxy, self.parent = ids
        self.where = where
        self.started = self.monotonic()
        self.ingress = rng.getrandbits(64) or 1

    def __call__(self, code: int) -> None:
        """Hand the finished hop to the tracer (``code``: the response's status)."""
        ctx = self.ctx
        ctx.on_finish = None  # once
        ended = self.monotonic()
        now_ns = time.time_ns()
        started = self.started
        acquired = ctx.acquired
        acquired = started if acquired is None or acquired < started else acquired
        offset = now_ns - int(ended * 1e9)
        wait = (self.rng.getrandbits(64) or 1) if acquired - started >= WAIT_SPAN_MIN_S else 0
        isvc, namespace, component, revision = self.where
        self.tracer.record((
            "h", self.trace, self.ingress, self.parent, self.proxy, wait,
            offset + int(started * 1e9), offset + int(acquired * 1e9), now_ns, code,
            isvc, namespace, component, revision, ctx.replica or "-",
        ))  # fmt: skip


def open_hop(
    ctx: RequestContext,
    *,
    tracer: Tracer,
    clock: Clock,
    rng: random.Random,
    trace: int,
    proxy: int,
    parent: int,
    where: tuple[str, str, str, str],
) -> OpenHop:
    """Open a sampled hop now and have the activator end it (``ctx.on_finish``)."""
    hop = ctx.on_finish = OpenHop(ctx, tracer, clock, rng, (trace, proxy, parent), where)
    return hop


def hop_ids(hop: TraceHop) -> tuple[int, int, int]:
    """(trace, proxy span, parent span) of a hop built from hex ids (0: no parent)."""
    context = hop.context
    parent = int(hop.parent_span_id, 16) if hop.parent_span_id else 0
    return int(context.trace_id, 16), int(context.span_id, 16), parent
