"""The gRPC server's own HTTP/2 handling on 127.0.0.1:0: what grpc's servers answer for unknown
methods, oversize, compressed and extra messages, the wrong content type, deadlines, cancels,
shutdown with calls in flight and large messages both ways; grpcio's own client where it can
express the case, the ``h2`` library as a raw client where it cannot."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import numpy as np
import pytest
from grpc import aio

from minikn.modelserver.dataplane import DataPlane
from minikn.modelserver.grpc import grpc_predict_v2_pb2 as pb
from minikn.modelserver.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from minikn.modelserver.grpc.server import GrpcServer, GrpcSettings
from minikn.modelserver.model import Model
from minikn.modelserver.tensors import InferRequest

PATH = "/inference.GRPCInferenceService/ModelInfer"


class Doubler(Model):
    def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        assert isinstance(payload, InferRequest)
        return payload.inputs[0].data * 2


class Gated(Model):
    """``predict`` waits for ``release``; ``entered`` and ``cancelled`` tell what happened."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
        assert isinstance(payload, InferRequest)
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return payload.inputs[0].data


Start = Callable[..., Awaitable[tuple[GrpcServer, int]]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    servers: list[GrpcServer] = []

    async def run(
        *models: Model, host: str = "127.0.0.1", **settings: Any
    ) -> tuple[GrpcServer, int]:
        dataplane = DataPlane(list(models))
        await dataplane.load_all()
        server = GrpcServer(dataplane, GrpcSettings(**settings))
        port = await server.start(host, 0)
        servers.append(server)
        return server, port

    yield run
    for server in servers:
        await server.stop()


def infer_request(model: str, values: Any) -> pb.ModelInferRequest:
    data = np.asarray(values, dtype="<f4")
    request = pb.ModelInferRequest(model_name=model, id="r-1")
    request.inputs.add(name="x", datatype="FP32", shape=[data.size])
    request.raw_input_contents.append(data.tobytes())
    return request


def message(payload: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(payload)) + payload


def grpc_headers(port: int, path: str = PATH, **extra: str) -> list[tuple[str, str]]:
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", f"127.0.0.1:{port}"),
        (":path", path),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    headers += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return headers


class RawClient:
    """One h2 client connection (the ``h2`` library over a socket): send what a test needs, read
    the answer of stream 1 (headers and trailers in one dict, the data, the reset code)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self.conn.initiate_connection()
        self.flush()

    @classmethod
    async def open(cls, port: int) -> RawClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def flush(self) -> None:
        self.writer.write(self.conn.data_to_send())

    async def answer(self, stream_id: int = 1) -> tuple[dict[str, str], bytes, int | None]:
        fields: dict[str, str] = {}
        data = b""
        async with asyncio.timeout(10):
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("closed before the stream ended")
                for event in self.conn.receive_data(chunk):
                    if getattr(event, "stream_id", None) != stream_id:
                        continue
                    if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                        fields.update(dict(event.headers))
                    elif isinstance(event, h2.events.DataReceived):
                        data += event.data
                        self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self.flush()
                        return fields, data, None
                    elif isinstance(event, h2.events.StreamReset):
                        return fields, data, event.error_code
                self.flush()

    def close(self) -> None:
        self.writer.close()


async def code_of(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as caught:
        await call
    return caught.value.code(), caught.value.details() or ""


async def test_an_unknown_method_is_unimplemented(start: Start) -> None:
    _, port = await start(Doubler("double"))
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        code, details = await code_of(channel.unary_unary("/other.Service/Call")(b""))
    assert (code, details) == (grpc.StatusCode.UNIMPLEMENTED, "Method not found!")


async def test_an_oversize_message_is_refused_on_its_length_prefix(start: Start) -> None:
    _, port = await start(Doubler("double"), max_receive_bytes=4096)
    client = await RawClient.open(port)
    client.conn.send_headers(1, grpc_headers(port))
    client.conn.send_data(1, struct.pack(">BI", 0, 100 * 2**20))  # the body itself never comes
    client.flush()
    fields, _, _ = await client.answer()
    client.close()
    assert fields["grpc-status"] == str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0])
    assert fields["grpc-message"] == "Received message larger than max (104857600 vs. 4096)"


async def test_a_response_above_the_send_bound_is_resource_exhausted(start: Start) -> None:
    _, port = await start(Doubler("double"), max_send_bytes=1024)
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        code, details = await code_of(stub.ModelInfer(infer_request("double", [1.0] * 512)))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details.startswith("Sent message larger than max")


async def test_a_deadline_that_runs_out_cancels_the_call(start: Start) -> None:
    model = Gated("gated")
    _, port = await start(model)
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        code, _ = await code_of(stub.ModelInfer(infer_request("gated", [1.0]), timeout=0.2))
        assert code is grpc.StatusCode.DEADLINE_EXCEEDED
        async with asyncio.timeout(10):
            await model.cancelled.wait()


async def test_the_servers_deadline_answers_deadline_exceeded(start: Start) -> None:
    _, port = await start(Gated("gated"))
    client = await RawClient.open(port)
    client.conn.send_headers(1, grpc_headers(port, grpc_timeout="50m"))
    client.conn.send_data(1, message(infer_request("gated", [1.0]).SerializeToString()), True)
    client.flush()
    fields, _, _ = await client.answer()
    client.close()
    assert (fields["grpc-status"], fields["grpc-message"]) == ("4", "Deadline Exceeded")


async def test_a_gzip_compressed_request_is_decompressed(start: Start) -> None:
    _, port = await start(Doubler("double"))
    async with aio.insecure_channel(
        f"127.0.0.1:{port}", compression=grpc.Compression.Gzip
    ) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        response = await stub.ModelInfer(infer_request("double", [1.0] * 1000))
    assert np.frombuffer(response.raw_output_contents[0], "<f4").tolist() == [2.0] * 1000


@pytest.mark.parametrize(
    ("encoding", "status", "text"),
    [
        (None, "13", "a compressed message without a grpc-encoding"),
        ("identity", "13", "a compressed message without a grpc-encoding"),
        ("br", "12", "Compression algorithm 'br' is not supported"),
    ],
)
async def test_a_compressed_message_without_a_supported_encoding_is_refused(
    start: Start, encoding: str | None, status: str, text: str
) -> None:
    _, port = await start(Doubler("double"))
    client = await RawClient.open(port)
    extra = {"grpc_encoding": encoding} if encoding else {}
    client.conn.send_headers(1, grpc_headers(port, **extra))
    payload = zlib.compress(infer_request("double", [1.0]).SerializeToString())
    client.conn.send_data(1, message(payload, flag=1), end_stream=True)
    client.flush()
    fields, _, _ = await client.answer()
    client.close()
    assert (fields["grpc-status"], fields["grpc-message"]) == (status, text)
    if status == "12":
        assert fields["grpc-accept-encoding"] == "identity,deflate,gzip"


async def test_a_content_type_that_is_not_grpc_is_http_415(start: Start) -> None:
    _, port = await start(Doubler("double"))
    client = await RawClient.open(port)
    headers = [(n, "application/json" if n == "content-type" else v) for n, v in grpc_headers(port)]
    client.conn.send_headers(1, headers)
    client.conn.send_data(1, b"{}", end_stream=True)
    client.flush()
    fields, _, _ = await client.answer()
    client.close()
    assert fields[":status"] == "415"
    assert "grpc-status" not in fields


@pytest.mark.parametrize("count", [0, 2])
async def test_a_unary_call_needs_exactly_one_request_message(start: Start, count: int) -> None:
    _, port = await start(Doubler("double"))
    client = await RawClient.open(port)
    client.conn.send_headers(1, grpc_headers(port))
    one = message(infer_request("double", [1.0]).SerializeToString())
    client.conn.send_data(1, one * count, end_stream=True)
    client.flush()
    fields, _, _ = await client.answer()
    client.close()
    assert fields["grpc-status"] == "13"
    assert fields["grpc-message"] == (
        "Half-closed without a request" if count == 0 else "Too many requests on a unary call"
    )


async def test_metadata_reaches_the_models_steps_without_grpcs_own_fields(start: Start) -> None:
    seen: list[Mapping[str, str]] = []

    class Recorder(Doubler):
        def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
            seen.append(dict(headers or {}))
            return super().predict(payload, headers)

    _, port = await start(Recorder("double"))
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        metadata = (("x-user", "ann"), ("token-bin", b"\x00\x01"))
        await stub.ModelInfer(infer_request("double", [1.0]), metadata=metadata, timeout=30)
    assert seen[0]["x-user"] == "ann"
    assert not {"token-bin", "grpc-timeout", "content-type", "te", ":path"} & set(seen[0])


@contextlib.asynccontextmanager
async def held_call(
    start: Start, value: float, **settings: Any
) -> AsyncIterator[tuple[GrpcServer, Gated, Any, Any]]:
    """A server whose model holds its calls, a stub on a channel to it, and one call that the
    model has entered: (server, model, stub, call)."""
    model = Gated("gated")
    server, port = await start(model, **settings)
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        call = stub.ModelInfer(infer_request("gated", [value]))
        await model.entered.wait()
        yield server, model, stub, call


async def test_a_client_cancel_stops_the_call(start: Start) -> None:
    async with held_call(start, 1.0) as (_, model, stub, call):
        call.cancel()
        async with asyncio.timeout(10):
            await model.cancelled.wait()
        # The connection serves the next call.
        model.release.set()
        assert (await stub.ModelInfer(infer_request("gated", [1.0]))).outputs


async def test_stop_lets_a_call_in_flight_finish_and_refuses_new_ones(start: Start) -> None:
    async with held_call(start, 3.0, grace_s=30.0) as (server, model, stub, call):
        stopping = asyncio.create_task(server.stop())
        await asyncio.sleep(0)
        assert not stopping.done()
        model.release.set()
        response = await call
        assert np.frombuffer(response.raw_output_contents[0], "<f4").tolist() == [3.0]
        await stopping
        code, _ = await code_of(stub.ModelInfer(infer_request("gated", [1.0]), timeout=5))
        assert code is grpc.StatusCode.UNAVAILABLE
    assert not model.cancelled.is_set()


async def test_stop_answers_calls_still_running_after_the_grace_unavailable(start: Start) -> None:
    async with held_call(start, 1.0, grace_s=0.1) as (server, model, _, call):
        await server.stop()
        code, details = await code_of(call)
    assert (code, details) == (grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
    assert model.cancelled.is_set()


async def test_tensors_of_several_mib_pass_both_ways_within_flow_control(start: Start) -> None:
    _, port = await start(
        Doubler("double"), max_receive_bytes=32 * 2**20, max_send_bytes=32 * 2**20
    )
    values = np.arange(6 * 2**20 // 4, dtype="<f4")  # 6 MiB in, 6 MiB out
    options = [
        ("grpc.max_send_message_length", 32 * 2**20),
        ("grpc.max_receive_message_length", 32 * 2**20),
    ]
    async with aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        responses = await asyncio.gather(
            *(stub.ModelInfer(infer_request("double", values)) for _ in range(3))
        )
    for response in responses:
        assert np.array_equal(np.frombuffer(response.raw_output_contents[0], "<f4"), values * 2)


async def test_a_connection_that_never_sends_the_preface_is_closed(start: Start) -> None:
    _, port = await start(Doubler("double"), preface_timeout_s=0.05)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    async with asyncio.timeout(10):
        while await reader.read(65536):  # the server's SETTINGS, then EOF
            pass
    writer.close()


async def test_an_idle_connection_gets_goaway_and_is_closed(start: Start) -> None:
    _, port = await start(Doubler("double"), idle_timeout_s=0.05)
    client = await RawClient.open(port)
    terminated = []
    async with asyncio.timeout(10):
        while chunk := await client.reader.read(65536):
            for event in client.conn.receive_data(chunk):
                if isinstance(event, h2.events.ConnectionTerminated):
                    terminated.append(event.error_code)
            client.flush()
    client.close()
    assert terminated == [0]


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
async def test_an_ipv6_host_binds_and_serves(start: Start) -> None:
    try:
        _, port = await start(Doubler("double"), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    async with aio.insecure_channel(f"[::1]:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        assert (await stub.ServerLive(pb.ServerLiveRequest())).live


async def test_a_models_error_reaches_the_client_percent_encoded_and_decoded(start: Start) -> None:
    class Failing(Doubler):
        def predict(self, payload: Any, headers: Mapping[str, str] | None = None) -> Any:
            raise ValueError("naïve 100% → no\r\nline")

    _, port = await start(Failing("fail"))
    async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        code, details = await code_of(stub.ModelInfer(infer_request("fail", [1.0])))
    assert (code, details) == (grpc.StatusCode.INTERNAL, "ValueError : naïve 100% → no\r\nline")


async def test_the_stream_bound_is_the_servers_max_concurrent_streams_setting(
    start: Start,
) -> None:
    _, port = await start(Doubler("double"), max_concurrent_streams=3)
    client = await RawClient.open(port)
    settings: dict[int, int] = {}
    async with asyncio.timeout(10):
        while not settings:
            for event in client.conn.receive_data(await client.reader.read(65536)):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    settings = {k: v.new_value for k, v in event.changed_settings.items()}
    client.close()
    assert settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 3


async def test_unfinished_messages_of_one_connection_are_bounded_together(start: Start) -> None:
    _, port = await start(Doubler("double"), max_receive_bytes=4096, max_buffered_bytes=5000)
    client = await RawClient.open(port)
    for stream_id in (1, 3):  # two calls, each 3,000 bytes of a 4,000-byte message, unfinished
        client.conn.send_headers(stream_id, grpc_headers(port))
        client.conn.send_data(stream_id, struct.pack(">BI", 0, 4000) + b"\0" * 2995)
    client.flush()
    fields, _, _ = await client.answer(3)
    assert fields["grpc-status"] == "8"
    assert fields["grpc-message"] == (
        "request data held for this connection's calls above 5000 bytes"
    )
    # The first call goes on, and its message can still end.
    client.conn.send_data(1, b"\0" * 1005, end_stream=True)
    client.flush()
    fields, _, _ = await client.answer(1)
    client.close()
    assert fields["grpc-status"] == "13"  # the zero bytes are not a ModelInferRequest's model


async def test_a_client_that_resets_every_call_it_opens_is_told_to_calm_down(start: Start) -> None:
    _, port = await start(Gated("gated"))  # a call takes a while: the client never waits for it
    client = await RawClient.open(port)
    body = message(infer_request("gated", [1.0]).SerializeToString())
    terminated: list[int] = []
    async with asyncio.timeout(30):
        for stream_id in range(1, 2 * 400, 2):
            client.conn.send_headers(stream_id, grpc_headers(port))
            client.conn.send_data(stream_id, body, end_stream=True)
            client.conn.reset_stream(stream_id)
        client.flush()
        while chunk := await client.reader.read(65536):
            for event in client.conn.receive_data(chunk):
                if isinstance(event, h2.events.ConnectionTerminated):
                    terminated.append(event.error_code)
    client.close()
    assert terminated == [h2.errors.ErrorCodes.ENHANCE_YOUR_CALM]
