"""The activator: buffering, containerConcurrency breakers, load balancing, data-path stats."""

from minikn.activator.activator import Activator
from minikn.activator.exchange import Exchange, Settle
from minikn.activator.fdlimit import raise_open_file_limit
from minikn.wire.http import (
    BodyStream,
    Handler,
    Middleware,
    ProxyRequest,
    RequestContext,
    ResponseSink,
    Rewrite,
    answer_error,
)

__all__ = [
    "Activator",
    "BodyStream",
    "Exchange",
    "Handler",
    "Middleware",
    "ProxyRequest",
    "RequestContext",
    "ResponseSink",
    "Rewrite",
    "Settle",
    "answer_error",
    "raise_open_file_limit",
]
