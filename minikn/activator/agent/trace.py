"""W3C Trace Context (``traceparent``/``tracestate``) for each hop of the data path.

Every hop (the activator forwarding to a replica of one revision) continues the caller's trace or
starts one: same trace id, a new span id whose parent is the caller's span, the caller's flags and
``tracestate`` kept. An invalid ``traceparent`` starts a new trace and drops ``tracestate``, as
the W3C spec asks. The hop is recorded where a user's tooling can see it:

- the forwarded ``traceparent`` lets the replica's own tracer (OpenTelemetry in KServe's Python
  server, or any W3C-aware library) continue the chain router -> transformer -> predictor;
- one structured DEBUG line per hop on ``minikn.activator.trace`` carries trace id, span id,
  parent span id, ISVC, component, revision, replica, status and duration (``extra`` fields too).

No span is exported (no OpenTelemetry dependency). Format, from the W3C recommendation::

    traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from minikn.activator.agent.types import header_get

__all__ = [
    "TraceContext",
    "TraceHop",
    "child_context",
    "new_traceparent_line",
    "parse_traceparent",
    "start_hop",
]

log = logging.getLogger("minikn.activator.trace")

_HEX = re.compile(r"^[0-9a-f]+$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
SAMPLED = "01"


@dataclass(frozen=True, slots=True)
class TraceContext:
    """One span's identity as carried in ``traceparent`` (plus the opaque ``tracestate``)."""

    trace_id: str
    span_id: str
    flags: str = SAMPLED
    tracestate: str | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and _HEX.match(value) is not None


def parse_traceparent(value: str | None, tracestate: str | None = None) -> TraceContext | None:
    """The caller's context, or None when ``value`` is absent or invalid.

    Version ``00`` must be exactly four fields; a higher version (not ``ff``) may carry more
    fields after the flags, which are ignored (the spec's forward-compatibility rule). All-zero
    trace or parent ids are invalid. Upper-case hex is invalid.
    """
    if value is None:
        return None
    parts = value.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_id, span_id, flags = parts[:4]
    if not _is_hex(version, 2) or version == "ff":
        return None
    if version == "00" and len(parts) != 4:
        return None
    if not (_is_hex(trace_id, 32) and _is_hex(span_id, 16) and _is_hex(flags, 2)):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    state = tracestate.strip() if tracestate else None
    return TraceContext(trace_id, span_id, flags, state or None)


def new_span_id(rng: random.Random) -> str:
    """A random non-zero 8-byte span id in lower-case hex.

    Ids need to be unique, not unguessable (as OpenTelemetry's default id generator, which also
    draws from ``random``): the caller's PRNG, seeded from the OS once, rather than
    ``os.urandom`` (a system call) twice on every request.
    """
    return f"{rng.getrandbits(64) or 1:016x}"


def new_trace_id(rng: random.Random) -> str:
    """A random non-zero 16-byte trace id in lower-case hex."""
    return f"{rng.getrandbits(128) or 1:032x}"


def new_traceparent_line(rng: random.Random) -> bytes:
    """``traceparent: ...\\r\\n`` for a hop that starts a new sampled trace: what
    :func:`start_hop` gives without a caller context, in one formatting step (no objects built)."""
    return b"traceparent: 00-%032x-%016x-01\r\n" % (
        rng.getrandbits(128) or 1,
        rng.getrandbits(64) or 1,
    )


def child_context(parent: TraceContext | None, span_id: str, trace_id: str) -> TraceContext:
    """The context of this hop: a child of ``parent``, or the root of a new trace (``trace_id``).

    Pure: the ids come in as arguments, so tests pass fixed ones.
    """
    if parent is None:
        return TraceContext(trace_id, span_id, SAMPLED, None)
    return TraceContext(parent.trace_id, span_id, parent.flags, parent.tracestate)


@dataclass(frozen=True, slots=True)
class TraceHop:
    """One hop's span: what to forward, and a way to record the hop once it is done."""

    context: TraceContext
    parent_span_id: str | None
    """The caller's span id; None when this hop started the trace."""
    isvc: str
    namespace: str
    component: str
    revision: str

    def forward_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """``headers`` with this hop's ``traceparent``/``tracestate`` (any old ones replaced)."""
        out = {k: v for k, v in headers.items() if k.lower() not in ("traceparent", "tracestate")}
        out["traceparent"] = self.context.traceparent
        if self.context.tracestate:
            out["tracestate"] = self.context.tracestate
        return out

    def record(self, *, replica: str, status: int, duration_s: float) -> None:
        """Log the finished hop at DEBUG on ``minikn.activator.trace``."""
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug(
            "span trace_id=%s span_id=%s parent_id=%s isvc=%s/%s component=%s revision=%s "
            "replica=%s status=%d duration_ms=%.2f",
            self.context.trace_id,
            self.context.span_id,
            self.parent_span_id or "-",
            self.namespace,
            self.isvc,
            self.component,
            self.revision,
            replica,
            status,
            duration_s * 1000.0,
            extra={
                "trace_id": self.context.trace_id,
                "span_id": self.context.span_id,
                "parent_span_id": self.parent_span_id,
                "isvc": self.isvc,
                "namespace": self.namespace,
                "component": self.component,
                "revision": self.revision,
                "replica": replica,
                "status": status,
            },
        )


def start_hop(
    headers: Mapping[str, str],
    *,
    isvc: str,
    namespace: str,
    component: str,
    revision: str,
    rng: random.Random,
) -> TraceHop:
    """Continue the caller's trace (valid ``traceparent``) or start a new one, for one hop; new
    ids are drawn from ``rng``."""
    parent = parse_traceparent(
        header_get(headers, "traceparent"), header_get(headers, "tracestate")
    )
    trace_id = parent.trace_id if parent else new_trace_id(rng)
    context = child_context(parent, new_span_id(rng), trace_id)
    return TraceHop(
        context,
        parent.span_id if parent else None,
        isvc=isvc,
        namespace=namespace,
        component=component,
        revision=revision,
    )
