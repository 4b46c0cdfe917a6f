"""The model interface the server calls, after KServe's ``kserve.Model``.

A model has ``load()`` and ``preprocess`` -> ``predict`` -> ``postprocess``; each may be sync or
async. ``predict`` receives a V1 body (``dict``) or a decoded V2 ``InferRequest`` and may return
a ready body (``dict``) or a bare result (array/list), which the server wraps as KServe does:
``{"predictions": [...]}`` for V1, one ``output-0`` tensor for V2. A model with a
``predictor_host`` and no ``predict`` of its own forwards to that predictor (transformer use).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from minikn.modelserver.errors import InvalidInput
from minikn.modelserver.tensors import InferRequest

__all__ = ["Model", "call_maybe_async", "predict_input", "wants_proba"]

PREDICT_PROBA_ENV = "PREDICT_PROBA"


async def call_maybe_async(fn: Any, *args: Any) -> Any:
    """Call ``fn`` with as many of ``args`` as it accepts; await the result when it is awaitable."""
    try:
        params = inspect.signature(fn).parameters.values()
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        takes_var = any(p.kind is p.VAR_POSITIONAL for p in params)
        count = len(args) if takes_var else min(len(args), len(positional))
    except (TypeError, ValueError):
        count = len(args)
    result = fn(*args[:count])
    if inspect.isawaitable(result):
        return await result
    return result


def _rows_from_dicts(rows: list[Any]) -> list[list[Any]]:
    # KServe builds a pandas DataFrame from a list of dicts; columns follow the first row's keys.
    columns = list(rows[0].keys())
    return [[row.get(c) for c in columns] for row in rows]


def predict_input(payload: Mapping[str, Any] | InferRequest) -> Any:
    """The model input of a request, as KServe's ``get_predict_input``."""
    if isinstance(payload, InferRequest):
        if len(payload.inputs) == 1:
            return payload.inputs[0].as_numpy()
        columns = [t.as_numpy().reshape(len(t.as_numpy()), -1) for t in payload.inputs]
        try:
            return np.hstack(columns)
        except ValueError as exc:
            raise InvalidInput(f"inputs cannot be combined into one matrix: {exc}") from exc
    instances = payload["inputs"] if "inputs" in payload else payload.get("instances")
    if instances is None:
        raise InvalidInput('Expected "instances" or "inputs" in the request body')
    if instances and isinstance(instances[0], dict):
        return _rows_from_dicts(instances)
    return instances


def wants_proba(payload: Mapping[str, Any] | InferRequest) -> bool:
    """``predict_proba`` is asked for by env ``PREDICT_PROBA=true`` or a request parameter."""
    if os.environ.get(PREDICT_PROBA_ENV, "false").lower() == "true":
        return True
    params = payload.parameters if isinstance(payload, InferRequest) else payload.get("parameters")
    return isinstance(params, Mapping) and str(params.get("predict_proba", "")).lower() == "true"


class Model:
    """Base class for built-in and user models (KServe's ``kserve.Model`` shape)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ready = False
        self.predictor_host: str | None = None
        self.protocol = "v1"

    def load(self) -> bool:
        """Load the model; return True when ready. Subclasses override."""
        self.ready = True
        return True

    def preprocess(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        return payload

    def postprocess(self, result: Any, headers: Mapping[str, str] | None = None) -> Any:
        return result

    def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        raise NotImplementedError("predict is not implemented by this model")

    def input_metadata(self) -> list[dict[str, Any]]:
        """V2 metadata ``inputs``; KServe's built-in servers report none."""
        return []

    def output_metadata(self) -> list[dict[str, Any]]:
        return []

    def explain(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        raise NotImplementedError("explain is not implemented for this model")

    @property
    def has_explainer(self) -> bool:
        return type(self).explain is not Model.explain or hasattr(self, "explainer")
