"""KServe's agent features on minikn's data path: payload logger, batcher, W3C trace context.

The components work on buffered requests (bytes bodies, header mappings) and reach the replica
through an :class:`Upstream`; :mod:`~minikn.activator.agent.middleware` adapts them to the
activator's per-revision ``Middleware`` seam. How the data path calls this::

    agents = AgentMiddleware(metrics=metrics, clock=clock)       # one, owned by the server
    activator = Activator(settings, ..., middlewares=[trace_middleware, agents])
    # Activator._forward, once the replica is picked: request.ctx.replica = replica_id
    # Activator.remove_revision(name): agents.discard(name)
    # shutdown, before activator.close(): await agents.close()

Standalone (tests, benchmarks, another proxy): ``agent = Agent.for_revision(spec, ...)`` then
``await agent.handle(method, path, headers, body, upstream)``; ``start_hop(headers, ...)`` gives
the ``traceparent`` to forward. The logger never blocks or fails a request (bounded queue, drops
counted in ``minikn_logger_events_dropped``); the batcher answers with KServe's ``{"message",
"batchId", "predictions"}``; each hop is logged at DEBUG on ``minikn.activator.trace``.
"""

from __future__ import annotations

from minikn.activator.agent.adapters import BufferSink, TeeSink
from minikn.activator.agent.batcher import Batcher
from minikn.activator.agent.chain import Agent
from minikn.activator.agent.cloudevents import CE_REQUEST, CE_RESPONSE, CloudEvent
from minikn.activator.agent.http_upstream import HttpUpstream
from minikn.activator.agent.logger import LoggedRequest, PayloadLogger
from minikn.activator.agent.middleware import AgentMiddleware, TraceMiddleware, trace_middleware
from minikn.activator.agent.sender import EventSender, HttpEventSender, SinkError
from minikn.activator.agent.trace import TraceContext, TraceHop, parse_traceparent, start_hop
from minikn.activator.agent.types import Upstream, UpstreamResponse

__all__ = [
    "CE_REQUEST",
    "CE_RESPONSE",
    "Agent",
    "AgentMiddleware",
    "Batcher",
    "BufferSink",
    "CloudEvent",
    "EventSender",
    "HttpEventSender",
    "HttpUpstream",
    "LoggedRequest",
    "PayloadLogger",
    "SinkError",
    "TeeSink",
    "TraceContext",
    "TraceHop",
    "TraceMiddleware",
    "Upstream",
    "UpstreamResponse",
    "parse_traceparent",
    "start_hop",
    "trace_middleware",
]
