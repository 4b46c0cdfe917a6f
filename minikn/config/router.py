"""``minikn.router``: how the ingress protects itself from slow, huge or odd client connections.

The limits mirror Envoy's HTTP connection manager and nginx's ``client_*`` directives; beyond one,
the client gets a 4xx with the reason and the connection is closed.
"""

from __future__ import annotations

from pydantic import Field

from minikn.config.types import ConfigGroup, Duration

__all__ = ["RouterConfig"]


class RouterConfig(ConfigGroup):
    """``minikn.router``: request-head bounds and client timeouts of the ingress connections."""

    max_request_head_bytes: int = Field(60 * 1024, alias="maxRequestHeadBytes", ge=1024)
    """Largest request line + headers (431 above it); Envoy's ``max_request_headers_kb`` (60 KiB
    default), nginx's ``large_client_header_buffers`` (4 x 8 KiB)."""
    max_request_headers: int = Field(100, alias="maxRequestHeaders", ge=1)
    """Most header fields in one request (431 above it); Envoy's ``max_headers_count`` (100)."""
    request_head_timeout: Duration = Field(15.0, alias="requestHeadTimeout", gt=0)
    """Time a client has to send a whole request head, from its first byte (from the accept on a
    new connection); then 408 and close. Envoy's ``request_headers_timeout``, nginx's
    ``client_header_timeout`` (60 s)."""
    body_idle_timeout: Duration = Field(30.0, alias="bodyIdleTimeout", gt=0)
    """Longest pause between two reads of a request body (reading paused by minikn itself does not
    count); then 408 and close. nginx's ``client_body_timeout`` (60 s), Envoy's
    ``stream_idle_timeout``."""
    keep_alive_timeout: Duration = Field(75.0, alias="keepAliveTimeout", gt=0)
    """How long an idle connection waits for its next request before it is closed silently; longer
    than clients' own pool idle times (aiohttp 15 s) so they close first. nginx's
    ``keepalive_timeout`` (75 s), Envoy's ``idle_timeout``, uvicorn's ``timeout_keep_alive``."""
    lingering_time: Duration = Field(5.0, alias="lingeringTime", gt=0)
    """After an error answer with request bytes still coming, how long the connection reads and
    discards them (so the client reads the answer instead of a reset) before it closes. nginx's
    ``lingering_time`` (30 s)."""
    max_pipelined_requests: int = Field(16, alias="maxPipelinedRequests", ge=1)
    """Requests parsed ahead of the one being served on one connection; reading pauses while any
    wait, and beyond this many the connection stops reading and closes once they are answered
    (a pipelining client retries the rest). Envoy and nginx serve pipelined requests one by one."""
    timeout_resolution: Duration = Field(0.5, alias="timeoutResolution", gt=0)
    """How often one sweep checks every connection's timeouts: a timeout fires between its due
    time and this much later (no timer per connection or request)."""
    h2_max_concurrent_streams: int = Field(100, alias="h2MaxConcurrentStreams", ge=1, le=10_000)
    """h2c (gRPC): streams one client connection may have open at once (``SETTINGS_MAX_CONCURRENT_
    STREAMS``; gRPC's servers advertise 100); a stream beyond it resets the connection. Header
    lists are bounded by ``maxRequestHeadBytes`` and ``maxRequestHeaders``, as HTTP/1.1 heads."""
    h2_stream_window_bytes: int = Field(
        1024 * 1024, alias="h2StreamWindowBytes", ge=65_535, le=2**31 - 1
    )
    """h2c: the flow-control window of one stream: request bytes of one call the ingress holds
    before the client must wait (acknowledged as the replica takes them)."""
    h2_connection_window_bytes: int = Field(
        16 * 1024 * 1024, alias="h2ConnectionWindowBytes", ge=65_535, le=2**31 - 1
    )
    """h2c: the flow-control window of a whole connection (all its streams together)."""
    h2_max_frame_bytes: int = Field(16_384, alias="h2MaxFrameBytes", ge=16_384, le=16_777_215)
    """h2c: the largest frame payload the ingress accepts (``SETTINGS_MAX_FRAME_SIZE``)."""
    h2_stream_idle_timeout: Duration = Field(300.0, alias="h2StreamIdleTimeout", gt=0)
    """h2c: a stream with no frame in either direction for this long (held in the activator's
    buffer or not) ends with DEADLINE_EXCEEDED; Envoy's ``stream_idle_timeout`` (5 min)."""
