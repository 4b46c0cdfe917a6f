"""W3C Trace Context for the graph's step calls: one trace spans the whole graph.

The request reaches the router with a ``traceparent`` (the platform's activator adds one to every
hop); each step call carries a child of it: the same trace id, a new parent (span) id, the same
flags, and the ``tracestate`` as received. Without a valid one, the router starts a trace.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

__all__ = ["TraceParent", "child_headers", "parse_traceparent"]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True)
class TraceParent:
    trace_id: str
    flags: str = "01"
    tracestate: str | None = None

    def child(self) -> str:
        """A ``traceparent`` for one outgoing call: same trace, a fresh span id."""
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-{self.flags}"


def parse_traceparent(value: str | None, tracestate: str | None = None) -> TraceParent:
    """The request's trace, or a new one when ``value`` is missing or invalid (all-zero ids and
    version ``ff`` are invalid, as the W3C spec says)."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if match is None or match[1] == "ff" or set(match[2]) == {"0"} or set(match[3]) == {"0"}:
        return TraceParent(secrets.token_hex(16))
    return TraceParent(match[2], match[4], tracestate)


def child_headers(trace: TraceParent) -> list[tuple[str, str]]:
    headers = [("traceparent", trace.child())]
    if trace.tracestate:
        headers.append(("tracestate", trace.tracestate))
    return headers
