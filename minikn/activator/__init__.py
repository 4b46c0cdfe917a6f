"""The activator: buffering, containerConcurrency breakers, load balancing, data-path stats."""

from minikn.activator.activator import Activator
from minikn.activator.http import BodyStream, Handler, Middleware, ProxyRequest, ResponseSink

__all__ = ["Activator", "BodyStream", "Handler", "Middleware", "ProxyRequest", "ResponseSink"]
