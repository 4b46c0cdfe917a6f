"""Span records encoded as OTLP protobuf by hand decode, with the real OTLP messages, to the
spans, ids, parents, times, attributes and statuses the records describe."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from minikn.telemetry.spanexport import EXPORT_BATCH, Encoder

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
HOP: tuple[Any, ...] = (
    "h", TRACE, 0x1111, 0, 0x2222, 0x3333, 1_000_000_000, 1_002_000_000, 1_005_000_000, 200,
    "iris", "default", "predictor", "iris-predictor-00001", "r1",
)  # fmt: skip


def decode(body: bytes) -> tuple[str, list[Span]]:
    msg = ExportTraceServiceRequest()
    msg.ParseFromString(body)
    (rs,) = msg.resource_spans
    (service,) = [a.value.string_value for a in rs.resource.attributes]
    (ss,) = rs.scope_spans
    assert ss.scope.name == "minikn"
    return service, list(ss.spans)


def attrs(span: Span) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


def test_a_hop_is_its_ingress_wait_and_proxy_spans_with_the_right_parents() -> None:
    (body,) = Encoder("minikn").requests([HOP])
    service, spans = decode(body)
    assert service == "minikn"
    ingress, wait, proxy = spans
    assert {s.trace_id for s in spans} == {TRACE.to_bytes(16, "big")}
    assert (ingress.name, ingress.span_id, ingress.parent_span_id) == (
        "ingress iris-predictor",
        (0x1111).to_bytes(8, "big"),
        b"",
    )
    assert ingress.kind == Span.SPAN_KIND_SERVER
    assert (ingress.start_time_unix_nano, ingress.end_time_unix_nano) == (10**9, 1_005_000_000)
    assert attrs(ingress) == {
        "http.response.status_code": 200, "minikn.isvc": "iris", "minikn.namespace": "default",
        "minikn.component": "predictor", "minikn.revision": "iris-predictor-00001",
    }  # fmt: skip
    assert (wait.name, wait.parent_span_id) == ("activator wait", ingress.span_id)
    assert wait.end_time_unix_nano == 1_002_000_000
    assert (proxy.name, proxy.parent_span_id, proxy.kind) == (
        "proxy iris-predictor-00001",
        ingress.span_id,
        Span.SPAN_KIND_CLIENT,
    )
    assert proxy.span_id == (0x2222).to_bytes(8, "big")
    assert proxy.start_time_unix_nano == 1_002_000_000
    assert attrs(proxy)["minikn.replica"] == "r1"
    assert proxy.status.code == Status.STATUS_CODE_UNSET


def test_a_hop_without_a_wait_has_no_wait_span_and_a_5xx_is_an_error() -> None:
    hop = (*HOP[:5], 0, *HOP[6:9], 503, *HOP[10:])
    (body,) = Encoder("minikn").requests([hop])
    _, spans = decode(body)
    assert [s.name for s in spans] == ["ingress iris-predictor", "proxy iris-predictor-00001"]
    assert {s.status.code for s in spans} == {Status.STATUS_CODE_ERROR}


def test_a_plain_span_keeps_its_parent_kind_and_typed_attributes() -> None:
    pairs = (("model.name", "iris"), ("n", -3), ("ok", True), ("x", 0.5))
    rec = ("s", "predict", TRACE, 0x44, 0x55, 7, 9, pairs, "server", False)
    (body,) = Encoder("model-server").requests([rec])
    service, (span,) = decode(body)
    assert service == "model-server"
    assert span.parent_span_id == (0x55).to_bytes(8, "big")
    assert span.kind == Span.SPAN_KIND_SERVER
    assert attrs(span) == {"model.name": "iris", "n": -3, "ok": True, "x": 0.5}


def test_an_end_before_its_start_is_clamped_and_a_malformed_record_is_skipped() -> None:
    rec = ("s", "step", TRACE, 0x44, 0, 9, 7, (), "internal", False)
    (body,) = Encoder("m").requests([("h", "not an id"), rec])
    _, (span,) = decode(body)
    assert span.end_time_unix_nano == span.start_time_unix_nano == 9


def test_many_spans_are_split_into_export_requests_of_a_bounded_size() -> None:
    bodies = list(Encoder("m").requests([HOP] * EXPORT_BATCH))
    counts = [len(decode(b)[1]) for b in bodies]
    assert sum(counts) == 3 * EXPORT_BATCH
    assert max(counts) <= EXPORT_BATCH + 2  # one hop's spans stay together
