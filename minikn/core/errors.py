"""minikn's error hierarchy and the one table that maps errors to HTTP answers.

Third-party errors are translated at the boundary (``raise InvalidInput(...) from exc``); every
HTTP error body minikn writes is ``{"error": "..."}``, as KServe's servers answer.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadGateway",
    "Conflict",
    "GatewayTimeout",
    "InvalidInput",
    "MiniknError",
    "NotFound",
    "PayloadTooLarge",
    "PermanentError",
    "RetryableError",
    "Unauthorized",
    "Unavailable",
    "error_body",
    "http_status",
]


class MiniknError(Exception):
    """Base of every error minikn raises on purpose."""

    status = 500

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class PermanentError(MiniknError):
    """Retrying will not help (bad configuration, a missing image)."""


class RetryableError(MiniknError):
    """A passing condition (an engine hiccup, a replica that went away); retrying may help."""


class InvalidInput(PermanentError):
    """The caller sent something wrong: 400."""

    status = 400


class Unauthorized(PermanentError):
    """No or wrong bearer token: 401."""

    status = 401


class NotFound(PermanentError):
    """No such ISVC, model, revision or tag: 404."""

    status = 404


class Conflict(PermanentError):
    """The object exists already or changed underneath: 409."""

    status = 409


class PayloadTooLarge(PermanentError):
    """Request body above the configured limit: 413."""

    status = 413


class BadGateway(RetryableError):
    """The replica dropped the connection or answered garbage: 502."""

    status = 502


class Unavailable(RetryableError):
    """No capacity can be had: buffer full, revision cannot become ready: 503.

    ``retry_after`` (seconds) becomes a ``Retry-After`` header when set.
    """

    status = 503

    def __init__(
        self, message: str, *, reason: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class GatewayTimeout(RetryableError):
    """The component's timeout ran out (buffered time included): 504."""

    status = 504


def http_status(exc: BaseException) -> int:
    """The HTTP status for an error; unknown errors are 500."""
    return exc.status if isinstance(exc, MiniknError) else 500


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON body for an error, as KServe writes it: ``{"error": "..."}``."""
    if isinstance(exc, MiniknError):
        return {"error": exc.message}
    return {"error": f"{type(exc).__name__}: {exc}"}
