"""The model server's errors, with KServe's messages and status codes (kserve/errors.py)."""

from __future__ import annotations

from minikn.core.errors import InvalidInput, MiniknError, NotFound, Unavailable

__all__ = [
    "InferenceError",
    "InvalidInput",
    "ModelMissingError",
    "ModelNotFound",
    "ModelNotReady",
    "NotImplementedByModel",
    "error_message",
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
