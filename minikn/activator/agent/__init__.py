"""KServe's agent features on minikn's data path: payload logger, batcher, W3C trace context.

All three are self-contained and work on buffered requests (bytes bodies, header mappings); the
replica is reached through an :class:`Upstream` the data path supplies. How the data path calls
this, per request to a revision ``spec`` (``agent`` built once per revision, ``None`` when the
revision sets neither ``logger`` nor ``batcher``)::

    agent = Agent.for_revision(spec, metrics=metrics, clock=clock)   # on upsert; then start()
    hop = start_hop(headers, isvc=spec.isvc, namespace=spec.namespace,
                    component=spec.component, revision=spec.name)
    headers = hop.forward_headers(headers)       # traceparent/tracestate for the replica
    resp = await (agent.handle(method, path, headers, body, upstream) if agent
                  else upstream(method, path, headers, body))
    hop.record(replica=name, status=resp.status, duration_s=elapsed)   # agent.close() on remove

The logger never blocks or fails a request (bounded queue, drops counted in
``minikn_logger_events_dropped``); the batcher answers with KServe's ``{"message", "batchId",
"predictions"}`` shape; the trace hop continues or starts a W3C trace and logs it at DEBUG on
``minikn.activator.trace``.
"""

from __future__ import annotations

from minikn.activator.agent.batcher import Batcher
from minikn.activator.agent.chain import Agent
from minikn.activator.agent.cloudevents import CE_REQUEST, CE_RESPONSE, CloudEvent
from minikn.activator.agent.http_upstream import HttpUpstream
from minikn.activator.agent.logger import LoggedRequest, PayloadLogger
from minikn.activator.agent.sender import EventSender, HttpEventSender, SinkError
from minikn.activator.agent.trace import TraceContext, TraceHop, parse_traceparent, start_hop
from minikn.activator.agent.types import Upstream, UpstreamResponse

__all__ = [
    "CE_REQUEST",
    "CE_RESPONSE",
    "Agent",
    "Batcher",
    "CloudEvent",
    "EventSender",
    "HttpEventSender",
    "HttpUpstream",
    "LoggedRequest",
    "PayloadLogger",
    "SinkError",
    "TraceContext",
    "TraceHop",
    "Upstream",
    "UpstreamResponse",
    "parse_traceparent",
    "start_hop",
]
