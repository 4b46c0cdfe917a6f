"""preprocess -> predict -> postprocess for one model, with the call shapes resolved once.

Models may define each step sync or async, with or without a ``headers`` argument; resolving
that per request (``inspect.signature``) would cost more than an sklearn prediction, so it is done
once when the model is registered.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from minikn.core.errors import MiniknError
from minikn.modelserver.errors import InferenceError
from minikn.modelserver.metrics import StepMetrics
from minikn.modelserver.model import Model
from minikn.modelserver.tensors import InferRequest

__all__ = ["Pipeline"]


class _Step:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
            params = []
        self.takes_headers = len(params) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)

    async def __call__(self, value: Any, headers: Mapping[str, str]) -> Any:
        result = self.fn(value, headers) if self.takes_headers else self.fn(value)
        if self.is_async or inspect.isawaitable(result):
            return await result
        return result


def _identity(value: Any) -> Any:
    return value


def _no_explainer(value: Any) -> Any:
    raise NotImplementedError("this model has no explainer")


def _request_json(payload: Any) -> Any:
    if isinstance(payload, InferRequest):
        return {
            "id": payload.id,
            "parameters": payload.parameters or None,
            "inputs": [
                {
                    "name": t.name,
                    "shape": t.shape,
                    "datatype": t.datatype,
                    "data": [
                        v.decode() if isinstance(v, bytes) else v
                        for v in t.data.reshape(-1).tolist()
                    ],
                }
                for t in payload.inputs
            ],
        }
    return payload


class Pipeline:
    """One model's request path."""

    def __init__(
        self,
        model: Model,
        session: Callable[[], aiohttp.ClientSession],
        metrics: StepMetrics | None = None,
    ) -> None:
        self.model = model
        self._session = session
        steps = metrics or StepMetrics()
        self._h_pre = steps.histogram(model.name, "preprocess")
        self._h_predict = steps.histogram(model.name, "predict")
        self._h_post = steps.histogram(model.name, "postprocess")
        self._h_explain = steps.histogram(model.name, "explain")
        self.pre = _Step(getattr(model, "preprocess", _identity))
        self.post = _Step(getattr(model, "postprocess", _identity))
        own_predict = getattr(type(model), "predict", None)
        forwards = model.predictor_host is not None and own_predict in (None, Model.predict)
        self.predict = _Step(self._forward if forwards else model.predict)
        self.explain = _Step(getattr(model, "explain", _no_explainer))
        self.has_explainer = bool(getattr(model, "has_explainer", False))

    async def run(self, payload: Any, headers: Mapping[str, str], *, explain: bool = False) -> Any:
        t0 = time.perf_counter()
        value = await self.pre(payload, headers)
        t1 = time.perf_counter()
        try:
            result = await (self.explain if explain else self.predict)(value, headers)
        except (MiniknError, NotImplementedError):
            raise
        except Exception as exc:  # a user model's own failure: KServe answers 500
            raise InferenceError(f"{type(exc).__name__} : {exc}") from exc
        t2 = time.perf_counter()
        out = await self.post(result, headers)
        self._h_pre.observe(t1 - t0)
        (self._h_explain if explain else self._h_predict).observe(t2 - t1)
        self._h_post.observe(time.perf_counter() - t2)
        return out

    async def _forward(self, payload: Any, headers: Mapping[str, str]) -> Any:
        """Transformer use: send the preprocessed payload to the predictor."""
        name = self.model.name
        host = self.model.predictor_host
        if self.model.protocol == "v2" or isinstance(payload, InferRequest):
            url = f"http://{host}/v2/models/{name}/infer"
        else:
            url = f"http://{host}/v1/models/{name}:predict"
        data = json.dumps(_request_json(payload))
        async with self._session().post(
            url, data=data, headers={"Content-Type": "application/json"}
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                detail = body.get("error") if isinstance(body, dict) else body
                raise InferenceError(f"predictor {host} answered {resp.status}: {detail}")
            return body
