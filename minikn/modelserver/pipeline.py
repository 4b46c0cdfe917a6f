"""preprocess -> predict -> postprocess for one model, with the call shapes resolved once.

Models may define each step sync or async, with or without a ``headers`` argument; resolving
that per request (``inspect.signature``) would cost more than an sklearn prediction, so it is done
once when the model is registered.
"""

from __future__ import annotations

import contextvars
import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import aiohttp

from minikn.core.errors import MiniknError
from minikn.modelserver.errors import InferenceError
from minikn.modelserver.metrics import StepMetrics
from minikn.modelserver.model import Model
from minikn.modelserver.tensors import InferRequest
from minikn.telemetry.tracing import Tracer, parse_parent, random_id

__all__ = ["GrpcForwarder", "Pipeline"]


class GrpcForwarder(Protocol):
    """A transformer's gRPC client to its predictor (``minikn.modelserver.grpc.client``)."""

    async def infer(
        self,
        predictor_host: str,
        model_name: str,
        payload: Any,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]: ...


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
        if self.fn is _identity:  # no preprocess/postprocess: nothing to call or await
            return value
        result = self.fn(value, headers) if self.takes_headers else self.fn(value)
        if self.is_async or inspect.isawaitable(result):
            return await result
        return result


def _identity(value: Any) -> Any:
    return value


def _own(model: Any, step: str) -> Callable[..., Any]:
    """A model's ``preprocess``/``postprocess``; ``_identity`` when it has none of its own
    (``Model``'s return their input as is)."""
    if getattr(type(model), step, None) is getattr(Model, step):
        return _identity
    fn: Callable[..., Any] = getattr(model, step, _identity)
    return fn


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


_Steps = tuple[str, str, list[tuple[str, int, int, str]]]
_STEP_PARENT: contextvars.ContextVar[_Steps | None] = contextvars.ContextVar(
    "minikn_modelserver_steps", default=None
)
"""While a traced request runs: its trace id, its span id and the step spans so far."""
_PREDICT_ID = "__predict_id__"


def _wall_ns(perf: float) -> int:
    return time.time_ns() - int((time.perf_counter() - perf) * 1e9)


def _mark(marks: list[tuple[str, int, int, str]], name: str, begin: float, end: float) -> None:
    marks.append((name, _wall_ns(begin), _wall_ns(end), random_id(64)))


def _predict_id(marks: list[tuple[str, int, int, str]]) -> str:
    """The predict step's span id, chosen before the step ends (its outgoing calls need it)."""
    for name, _, _, span_id in marks:
        if name == _PREDICT_ID:
            return span_id
    span_id = random_id(64)
    marks.append((_PREDICT_ID, 0, 0, span_id))
    return span_id


def _step_mark(
    name: str, begin: float, end: float, marks: list[tuple[str, int, int, str]]
) -> tuple[str, int, int, str]:
    span_id = _predict_id(marks)
    marks[:] = [m for m in marks if m[0] != _PREDICT_ID]
    return (name, _wall_ns(begin), _wall_ns(end), span_id)


class Pipeline:
    """One model's request path."""

    def __init__(
        self,
        model: Model,
        session: Callable[[], aiohttp.ClientSession],
        metrics: StepMetrics | None = None,
        tracer: Tracer | None = None,
        grpc: Callable[[], GrpcForwarder] | None = None,
    ) -> None:
        self.model = model
        self._tracer = tracer
        self._session = session
        self._grpc = grpc
        steps = metrics or StepMetrics()
        self._h_pre = steps.histogram(model.name, "preprocess")
        self._h_predict = steps.histogram(model.name, "predict")
        self._h_post = steps.histogram(model.name, "postprocess")
        self._h_explain = steps.histogram(model.name, "explain")
        self.pre = _Step(_own(model, "preprocess"))
        self.post = _Step(_own(model, "postprocess"))
        own_predict = getattr(type(model), "predict", None)
        forwards = model.predictor_host is not None and own_predict in (None, Model.predict)
        self.predict = _Step(self._forward if forwards else model.predict)
        self.explain = _Step(getattr(model, "explain", _no_explainer))
        self.has_explainer = bool(getattr(model, "has_explainer", False))

    async def run(self, payload: Any, headers: Mapping[str, str], *, explain: bool = False) -> Any:
        if self._tracer is not None:
            return await self._traced(self._tracer, payload, headers, explain=explain)
        return await self._run(payload, headers, explain=explain)

    async def _traced(
        self, tracer: Tracer, payload: Any, headers: Mapping[str, str], *, explain: bool
    ) -> Any:
        """:meth:`_run` with its spans: the request, and preprocess/predict/postprocess in it;
        a transformer's call to the predictor carries the predict span as its parent."""
        parent = parse_parent(headers.get("traceparent"))
        trace_id = parent[0] if parent else random_id(128)
        if not tracer.sampled(trace_id, parent[2] if parent else None):
            return await self._run(payload, headers, explain=explain)
        request_id = random_id(64)
        marks: list[tuple[str, int, int, str]] = []
        token = _STEP_PARENT.set((trace_id, request_id, marks))
        start = time.time_ns()
        error = True
        try:
            out = await self._run(payload, headers, explain=explain)
            error = False
            return out
        finally:
            _STEP_PARENT.reset(token)
            tracer.span(f"{'explain' if explain else 'predict'} {self.model.name}",
                        trace_id=trace_id, span_id=request_id,
                        parent_id=parent[1] if parent else None, start_ns=start,
                        end_ns=time.time_ns(), attributes={"model.name": self.model.name},
                        kind="server", error=error)  # fmt: skip
            for name, begin, end, span_id in marks:
                tracer.span(name, trace_id=trace_id, span_id=span_id, parent_id=request_id,
                            start_ns=begin, end_ns=end)  # fmt: skip

    async def _run(self, payload: Any, headers: Mapping[str, str], *, explain: bool) -> Any:
        t0 = time.perf_counter()
        value = await self.pre(payload, headers)
        t1 = time.perf_counter()
        steps = _STEP_PARENT.get()
        if steps is not None:
            _mark(steps[2], "preprocess", t0, t1)
        try:
            result = await (self.explain if explain else self.predict)(value, headers)
        except (MiniknError, NotImplementedError):
            raise
        except Exception as exc:  # a user model's own failure: KServe answers 500
            raise InferenceError(f"{type(exc).__name__} : {exc}") from exc
        t2 = time.perf_counter()
        out = await self.post(result, headers)
        if steps is not None:
            t3 = time.perf_counter()
            marks = steps[2]
            marks.append(_step_mark("explain" if explain else "predict", t1, t2, marks))
            _mark(marks, "postprocess", t2, t3)
        self._h_pre.observe(t1 - t0)
        (self._h_explain if explain else self._h_predict).observe(t2 - t1)
        self._h_post.observe(time.perf_counter() - t2)
        return out

    async def _forward(self, payload: Any, headers: Mapping[str, str]) -> Any:
        """Transformer use: send the preprocessed payload to the predictor (over gRPC with
        ``--protocol grpc-v2``, its answer then as the V2 JSON body REST would give)."""
        name = self.model.name
        host = self.model.predictor_host
        steps = _STEP_PARENT.get()
        traceparent = None
        if steps is not None:  # the predictor's hop is a child of this predict step
            trace_id, _, marks = steps
            traceparent = f"00-{trace_id}-{_predict_id(marks)}-01"
        if self.model.protocol == "grpc-v2" and self._grpc is not None and host is not None:
            metadata = [("traceparent", traceparent)] if traceparent else []
            return await self._grpc().infer(host, name, payload, metadata)
        if self.model.protocol == "v2" or isinstance(payload, InferRequest):
            url = f"http://{host}/v2/models/{name}/infer"
        else:
            url = f"http://{host}/v1/models/{name}:predict"
        data = json.dumps(_request_json(payload))
        out_headers = {"Content-Type": "application/json"}
        if traceparent is not None:
            out_headers["traceparent"] = traceparent
        async with self._session().post(url, data=data, headers=out_headers) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                detail = body.get("error") if isinstance(body, dict) else body
                raise InferenceError(f"predictor {host} answered {resp.status}: {detail}")
            return body
