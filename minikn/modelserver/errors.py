"""The model server's errors and the one table that maps them to HTTP answers.

Status codes and wording follow KServe's Python server (``python/kserve/kserve/errors.py`` and
the handlers ``protocol/rest/server.py`` registers): ``InvalidInput`` 400, ``ModelNotFound`` 404
``Model with name X does not exist.``, ``ModelNotReady`` 503 ``Model with name X is not
ready.``, ``ServerNotReady`` 503 ``Server is not ready.``, ``InferenceError`` 500,
``NotImplementedError`` 501, any other exception 500 ``Type : message``. Every body is
``{"error": "..."}``. No transport is named here, so a gRPC codec can map the same errors.
"""

from __future__ import annotations

from typing import Any

from minikn.core.errors import InvalidInput, MiniknError, NotFound, PayloadTooLarge, Unavailable

__all__ = [
    "InferenceError",
    "InvalidInput",
    "ModelMissingError",
    "ModelNotFound",
    "ModelNotReady",
    "NotImplementedByModel",
    "PayloadTooLarge",
    "ServerNotReady",
    "error_message",
    "http_answer",
]


class ModelNotFound(NotFound):
    """404: ``Model with name X does not exist.``"""

    def __init__(self, name: str) -> None:
        super().__init__(f"Model with name {name} does not exist.", reason="ModelNotFound")


class ModelNotReady(Unavailable):
    """503: ``Model with name X is not ready.`` (plus the load failure, when there was one)."""

    def __init__(self, name: str, detail: str | None = None) -> None:
        message = f"Model with name {name} is not ready."
        if detail:
            message = f"{message} {detail}"
        super().__init__(message, reason="ModelNotReady")


class ServerNotReady(Unavailable):
    """503: ``Server is not ready.`` (``GET /v2/health/ready`` before every model loaded)."""

    def __init__(self) -> None:
        super().__init__("Server is not ready.", reason="ServerNotReady")


class InferenceError(MiniknError):
    """500: the model raised while predicting."""

    status = 500


class NotImplementedByModel(MiniknError):
    """501: e.g. ``:explain`` without an explainer, or a versioned V2 path."""

    status = 501


class ModelMissingError(MiniknError):
    """The model directory holds no file the chosen format can load."""

    status = 500


def error_message(exc: BaseException) -> str:
    """The ``error`` text KServe writes for an unexpected exception: ``Type : message``."""
    if isinstance(exc, MiniknError):
        return exc.message
    return f"{type(exc).__name__} : {exc}"


def http_answer(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The one table: an exception -> (HTTP status, ``{"error": ...}``), as KServe's handlers.

    minikn's errors carry their status (``InvalidInput`` 400, ``ModelNotFound`` 404,
    ``PayloadTooLarge`` 413, ``ModelNotReady``/``ServerNotReady`` 503, ``InferenceError`` 500,
    ``NotImplementedByModel`` 501); a model's ``NotImplementedError`` is 501 with its own text
    (KServe's ``not_implemented_error_handler``); anything else is 500 ``Type : message``
    (KServe's ``generic_exception_handler``).
    """
    if isinstance(exc, MiniknError):
        return exc.status, {"error": exc.message}
    if isinstance(exc, NotImplementedError):
        return 501, {"error": str(exc)}
    return 500, {"error": error_message(exc)}
