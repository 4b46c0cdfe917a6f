"""One hop's OpenTelemetry spans: the ingress, the activator's wait, the proxied call.

The hop's forwarded ``traceparent`` names the *proxy* span, so the replica's own spans (the model
server's request, preprocess, predict, postprocess) are its children; the proxy and wait spans are
children of the hop's ingress span, whose parent is the caller's span (a transformer's predict
step, when the hop is the transformer -> predictor call) or none (the trace starts here). The wait
span is there when the request waited for a replica slot (:data:`WAIT_SPAN_MIN_S`).
"""

from __future__ import annotations

import dataclasses
import random
import time

from minikn.activator.agent.trace import TraceHop, new_span_id
from minikn.telemetry.tracing import Tracer
from minikn.wire.http import RequestContext

__all__ = ["WAIT_SPAN_MIN_S", "HopSpans", "hop_spans"]

WAIT_SPAN_MIN_S = 0.001
"""The activator's wait gets a span when the request waited at least this long for a replica
slot (buffered: a cold start or no free capacity); a warm request's wait is not worth one."""


@dataclasses.dataclass(slots=True)
class HopSpans:
    tracer: Tracer
    ingress_id: str
    rng: random.Random

    def export(
        self, hop: TraceHop, ctx: RequestContext, status: int, started: float, ended: float
    ) -> None:
        """Export the hop's spans (``started``/``ended``: monotonic seconds)."""
        offset = time.time_ns() - int(ended * 1e9)

        def ns(mono: float) -> int:
            return offset + int(mono * 1e9)

        trace_id = hop.context.trace_id
        attrs: dict[str, str | int | float | bool] = {
            "http.response.status_code": status,
            "minikn.isvc": hop.isvc,
            "minikn.namespace": hop.namespace,
            "minikn.component": hop.component,
            "minikn.revision": hop.revision,
        }
        error = status >= 500 or status == 0
        t = self.tracer
        t.span(f"ingress {hop.isvc}-{hop.component}", trace_id=trace_id, span_id=self.ingress_id,
               parent_id=hop.parent_span_id, start_ns=ns(started), end_ns=ns(ended),
               attributes=attrs, kind="server", error=error)  # fmt: skip
        acquired = ctx.acquired if ctx.acquired is not None else started
        if acquired - started >= WAIT_SPAN_MIN_S:  # it waited (buffered): worth a span
            t.span("activator wait", trace_id=trace_id, span_id=new_span_id(self.rng),
                   parent_id=self.ingress_id, start_ns=ns(started), end_ns=ns(acquired),
                   attributes={"minikn.revision": hop.revision})  # fmt: skip
        t.span(f"proxy {hop.revision}", trace_id=trace_id, span_id=hop.context.span_id,
               parent_id=self.ingress_id, start_ns=ns(acquired), end_ns=ns(ended),
               attributes={**attrs, "minikn.replica": ctx.replica or "-"}, kind="client",
               error=error)  # fmt: skip


def hop_spans(
    hop: TraceHop, tracer: Tracer, rng: random.Random
) -> tuple[TraceHop, HopSpans | None]:
    """The hop with its sampling decision in the forwarded flags, and its spans when sampled."""
    parent_flags = hop.context.flags if hop.parent_span_id is not None else None
    sampled = tracer.sampled(hop.context.trace_id, parent_flags)
    if parent_flags is None and not sampled:
        hop = dataclasses.replace(hop, context=dataclasses.replace(hop.context, flags="00"))
    if not sampled:
        return hop, None
    return hop, HopSpans(tracer, new_span_id(rng), rng)
