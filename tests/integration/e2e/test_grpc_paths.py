"""gRPC through the platform's paths (process backend, real sockets, a real ``grpc.aio`` replica,
``tests/integration/e2e/grpc_replica.py``, behind a custom container whose port is named ``h2c``):
a traffic split across two revisions counted per revision, a full buffer answered
RESOURCE_EXHAUSTED, deadlines that run out in minikn (its own status message, not the client's
timer), streaming RPCs passing through message by message, also past the payload logger and the
batcher, and messages larger than the flow-control windows both ways."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from aiohttp import web

from minikn.api.documents import parse_text
from minikn.platform.server import Platform

from .platform_helpers import running_platform, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

REPLICA = Path(__file__).with_name("grpc_replica.py")
SERVICE = "/minikn.test.Probe"

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: {name}}}
spec:
  predictor:
    minReplicas: {min}
    timeout: {timeout}
    {canary}
    {agent}
    containers:
      - name: kserve-container
        command: ["{python}", "{replica}"]
        env: [{{name: GATE, value: "{gate}"}}, {{name: VERSION, value: "{version}"}}]
        ports: [{{name: h2c, containerPort: 8080}}]
"""


def _isvc(
    name: str,
    *,
    gate: Path | str = "",
    version: int = 1,
    canary: int | None = None,
    timeout: int = 300,
    min_replicas: int = 1,
    agent: str = "",
) -> str:
    return ISVC.format(
        name=name, min=min_replicas, timeout=timeout, python=sys.executable, replica=REPLICA,
        gate=gate, version=version, agent=agent,
        canary="" if canary is None else f"canaryTrafficPercent: {canary}",
    )  # fmt: skip


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    settings = {"minikn": {"activator": {"maxBufferedRequests": 2}}}
    async with running_platform(tmp_path, settings) as (p, _):
        yield p


def _channel(p: Platform, host: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{p.ingress_port}", options=[("grpc.default_authority", host)]
    )


def _requests_by_revision(p: Platform, isvc: str) -> dict[tuple[str, str], float]:
    """``activator_request_count`` of the ISVC's revisions: (revision, code) -> count."""
    out: dict[tuple[str, str], float] = {}
    for family in p.metrics.registry.collect():
        if family.name != "activator_request_count":
            continue
        for sample in family.samples:
            if sample.labels.get("isvc") == isvc and sample.name.endswith("_total"):
                key = (sample.labels["revision"], sample.labels["code"])
                out[key] = out.get(key, 0) + sample.value
    return out


async def _apply(p: Platform, text: str) -> None:
    await p.controller.apply(parse_text(text, "isvc.yaml"))


async def _warm(p: Platform, isvc: str, revision: str) -> None:
    """Apply ``isvc`` and wait until its revision has a ready replica."""
    assert p.dataplane is not None
    await _apply(p, isvc)
    await until(lambda: p.dataplane is not None and p.dataplane.replicas.ready_count(revision) == 1)


async def test_a_canary_split_sends_calls_to_both_revisions_counted_per_revision(
    platform: Platform,
) -> None:
    p = platform
    assert p.dataplane is not None
    replicas = p.dataplane.replicas
    await _apply(p, _isvc("split"))
    one, two = "split-predictor-00001", "split-predictor-00002"
    await until(lambda: replicas.ready_count(one) == 1)
    await _apply(p, _isvc("split", version=2, canary=50))
    await until(lambda: replicas.ready_count(two) == 1)
    await until(lambda: p.controller.get("default", "split")["status"]
                 .get("components", {}).get("predictor", {}).get("traffic", [{}])[0]
                 .get("revisionName") == two)  # fmt: skip
    async with _channel(p, "split.default.example.com") as channel:
        which = channel.unary_unary(f"{SERVICE}/Revision")
        reached = await asyncio.gather(*(which(b"", timeout=60) for _ in range(60)))
    seen = {r.decode() for r in reached}
    assert seen == {one, two}
    counts = _requests_by_revision(p, "split")
    by_client = {rev: sum(r.decode() == rev for r in reached) for rev in (one, two)}
    # Each revision counted exactly the calls that reached it, as 200s.
    assert counts.get((one, "200"), 0) == by_client[one]
    assert counts.get((two, "200"), 0) == by_client[two]


async def test_calls_beyond_a_full_buffer_are_resource_exhausted_and_held_ones_complete(
    platform: Platform, tmp_path: Path
) -> None:
    p = platform
    assert p.dataplane is not None
    gate = tmp_path / "gate"
    await _apply(p, _isvc("held", gate=gate))
    rev = "held-predictor-00001"
    await until(lambda: p.dataplane is not None and p.dataplane.replicas.status(rev).desired == 1)
    async with _channel(p, "held.default.example.com") as channel:
        echo = channel.unary_unary(f"{SERVICE}/Echo")
        held = [asyncio.ensure_future(echo(b"held-%d" % i, timeout=120)) for i in range(2)]
        await until(lambda: p.dataplane is not None and p.dataplane.activator.buffered(rev) == 2)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await echo(b"one too many", timeout=60)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 requests waiting for capacity" in (err.value.details() or "")
        gate.touch()  # the replica starts listening: ready, the held calls go through
        assert await asyncio.gather(*held) == [b"held-0", b"held-1"]
    counts = _requests_by_revision(p, "held")
    assert counts.get((rev, "429")) == 1
    assert counts.get((rev, "200")) == 2


async def _raw_call(
    port: int, authority: str, path: str, metadata: list[tuple[str, str]]
) -> dict[str, str]:
    """One unary gRPC call over a bare h2c connection (so the ``grpc-timeout`` header is the
    only deadline: no client-side timer): the response's headers and trailers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    headers = [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", authority),
        ("content-type", "application/grpc"), ("te", "trailers"), *metadata,
    ]  # fmt: skip
    conn.send_headers(1, headers)
    conn.send_data(1, b"\x00\x00\x00\x00\x02hi", end_stream=True)
    writer.write(conn.data_to_send())
    answer: dict[str, str] = {}
    try:
        async with asyncio.timeout(120):
            while True:
                data = await reader.read(65_536)
                assert data, "the ingress closed the connection before the call ended"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                        for name, value in event.headers or ():
                            answer[_text(name)] = _text(value)
                    elif isinstance(event, h2.events.StreamEnded):
                        return answer
                writer.write(conn.data_to_send())
    finally:
        writer.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def test_a_grpc_timeout_runs_out_in_minikn_while_the_call_is_held(
    platform: Platform, tmp_path: Path
) -> None:
    p = platform
    assert p.dataplane is not None
    await _apply(p, _isvc("late", gate=tmp_path / "never"))
    rev = "late-predictor-00001"
    await until(lambda: p.dataplane is not None and p.dataplane.replicas.status(rev).desired == 1)
    # The call carries a 1 s grpc-timeout and the client keeps no timer of its own: only minikn
    # can end it, with its own message.
    answer = await _raw_call(
        p.ingress_port, "late.default.example.com", f"{SERVICE}/Echo", [("grpc-timeout", "1S")]
    )
    assert answer.get(":status") == "200"
    assert answer.get("grpc-status") == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0])
    assert answer.get("grpc-message") == "deadline exceeded (grpc-timeout)"
    assert _requests_by_revision(p, "late").get((rev, "504")) == 1


async def test_the_component_timeout_ends_a_stalled_call_before_the_clients_deadline(
    platform: Platform,
) -> None:
    p = platform
    await _warm(p, _isvc("stall", timeout=1), "stall-predictor-00001")
    async with _channel(p, "stall.default.example.com") as channel:
        stall = channel.unary_unary(f"{SERVICE}/Stall")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stall(b"", timeout=60)  # the client would wait a minute
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert err.value.details() == "activator request timeout"


async def test_streaming_calls_pass_through_message_by_message(platform: Platform) -> None:
    p = platform
    await _warm(p, _isvc("stream"), "stream-predictor-00001")
    async with _channel(p, "stream.default.example.com") as channel:
        count = channel.unary_stream(f"{SERVICE}/Count")
        assert [m async for m in count(b"50", timeout=60)] == [b"%d" % i for i in range(50)]
        # Bidi ping-pong: each message is sent only after the previous answer arrived, so a
        # proxy that waited for the end of either stream would hang here.
        chat = channel.stream_stream(f"{SERVICE}/Chat")
        call = chat(timeout=60)
        for i in range(20):
            await call.write(b"ping-%d" % i)
            assert await call.read() == b"ping-%d" % i
        await call.done_writing()
        assert await call.read() == grpc.aio.EOF
        assert await call.code() == grpc.StatusCode.OK


async def test_large_messages_pass_both_ways_within_the_windows_of_both_hops(
    platform: Platform,
) -> None:
    # 3 MiB each way per call, four calls at once on one client connection: over the ingress's
    # stream window (1 MiB) and grpc's own (64 KiB), so both directions of both hops wait for
    # WINDOW_UPDATEs and every byte arrives.
    p = platform
    await _warm(p, _isvc("large"), "large-predictor-00001")
    async with _channel(p, "large.default.example.com") as channel:
        echo = channel.unary_unary(f"{SERVICE}/Echo")
        bodies = [bytes([i]) * (3 * 1024 * 1024) for i in range(4)]
        answers = await asyncio.gather(*(echo(body, timeout=60) for body in bodies))
        assert answers == bodies


@pytest.fixture
async def event_sink() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A CloudEvents sink for the payload logger: (its URL, the events' headers)."""
    events: list[dict[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        events.append(dict(request.headers))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/", events
    finally:
        await runner.cleanup()


async def test_grpc_calls_stream_past_the_logger_and_the_batcher_and_their_requests_are_logged(
    platform: Platform, event_sink: tuple[str, list[dict[str, str]]]
) -> None:
    p = platform
    url, events = event_sink
    logger = f'logger: {{mode: all, url: "{url}"}}'
    agents = {"logged": logger, "batched": f"{logger}\n    batcher: {{maxBatchSize: 4}}"}
    for name, agent in agents.items():
        await _apply(p, _isvc(name, agent=agent))
    for name in agents:
        rev = f"{name}-predictor-00001"
        await until(lambda rev=rev: p.dataplane is not None
                     and p.dataplane.replicas.ready_count(rev) == 1)  # fmt: skip
        async with _channel(p, f"{name}.default.example.com") as channel:
            # Bidi ping-pong: a layer that waited for the whole request body would hang it.
            call = channel.stream_stream(f"{SERVICE}/Chat")(timeout=60)
            for i in range(5):
                await call.write(b"ping-%d" % i)
                assert await call.read() == b"ping-%d" % i
            await call.done_writing()
            assert await call.code() == grpc.StatusCode.OK
            echo = channel.unary_unary(f"{SERVICE}/Echo")
            assert await echo(b"hello", timeout=60) == b"hello"
    async with asyncio.timeout(30):
        while len(events) < 4:
            await asyncio.sleep(0.05)
    # One request event per call, with the call's content type; no response events.
    assert {h["Ce-Type"] for h in events} == {"org.kubeflow.serving.inference.request"}
    assert all(h["Content-Type"].startswith("application/grpc") for h in events)
    assert sorted(h["Ce-Inferenceservicename"] for h in events) == ["batched"] * 2 + ["logged"] * 2
