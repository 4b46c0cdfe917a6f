"""OpenTelemetry tracing through a running platform (process backend, real sockets): a real
OTLP/HTTP receiver on loopback decodes ``ExportTraceServiceRequest`` protobufs, and one request
to a transformer -> predictor ISVC yields spans of one trace with the right parents: the
transformer hop's ingress (root), its wait and proxied call, the transformer's model server and
its steps, the predictor hop (a child of the transformer's predict step), the predictor's steps."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from minikn.api.documents import parse_text

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: chain}}
spec:
  transformer:
    containers:
      - name: kserve-container
        command: ["{python}", "-m", "minikn.modelserver"]
        args: [--model_name=chain, --model_class=minikn.modelserver.examples:IrisTransformer]
  predictor:
    model: {{modelFormat: {{name: sklearn}}, storageUri: "file://{model}"}}
"""


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    service: str


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[Span]]]:
    spans: list[Span] = []

    async def export(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(await request.read())
        for rs in msg.resource_spans:
            service = next(
                (a.value.string_value for a in rs.resource.attributes if a.key == "service.name"),
                "",
            )
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        Span(
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            service,
                        )
                    )
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1/traces", spans
    finally:
        await runner.cleanup()


async def test_one_request_through_transformer_and_predictor_is_one_trace(
    tmp_path: Path, receiver: tuple[str, list[Span]]
) -> None:
    endpoint, spans = receiver
    config = {
        "config-observability": {
            "tracing-protocol": "http/protobuf",
            "tracing-endpoint": endpoint,
            "tracing-sampling-rate": 1.0,
        }
    }
    async with running_platform(tmp_path, config) as (p, model):
        docs = ISVC.format(python=sys.executable, model=model)
        await p.controller.apply(parse_text(docs, "chain.yaml"))
        await until_ready(p, "chain", 120)
        url = f"http://127.0.0.1:{p.ingress_port}/v1/models/chain:predict"
        body = {"instances": [{"sepal_length": 6.8, "sepal_width": 2.8, "petal_length": 4.8,
                               "petal_width": 1.4}]}  # fmt: skip
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=body, headers={"Host": "chain.default.example.com"}) as r,
        ):
            assert r.status == 200, await r.text()
        wanted = 10  # 2 hops x (ingress, proxy) + 2 servers x (request, 3 steps)
        async with asyncio.timeout(30):
            while len([s for s in spans if s.name != "activator wait"]) < wanted:
                await asyncio.sleep(0.1)
    by_id = {s.span_id: s for s in spans}
    assert len({s.trace_id for s in spans}) == 1, spans
    (root,) = [s for s in spans if not s.parent_id]
    assert root.name == "ingress chain-transformer"

    def parent(span: Span) -> Span:
        return by_id[span.parent_id]

    def one(name: str) -> Span:
        (found,) = [s for s in spans if s.name == name]
        return found

    t_proxy = one("proxy chain-transformer-00001")
    assert parent(t_proxy) is root
    # A wait span (only when the request waited for a slot) belongs to its hop's ingress.
    waits = [s for s in spans if s.name == "activator wait"]
    assert all(parent(w).name.startswith("ingress chain-") for w in waits)
    requests = [s for s in spans if s.name == "predict chain"]
    t_request = next(s for s in requests if parent(s) is t_proxy)
    assert t_request.service == "minikn"
    t_predict = next(s for s in spans if s.name == "predict" and parent(s) is t_request)
    p_ingress = one("ingress chain-predictor")
    assert parent(p_ingress) is t_predict  # the transformer's call to the predictor
    p_proxy = one("proxy chain-predictor-00001")
    assert parent(p_proxy) is p_ingress
    p_request = next(s for s in requests if parent(s) is p_proxy)
    steps = sorted(s.name for s in spans if s.parent_id == p_request.span_id)
    assert steps == ["postprocess", "predict", "preprocess"]
