"""Scale from zero, buffering limits, timeouts and failures, over real sockets."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from minikn.core.clock import FakeClock
from minikn.core.endpoints import Endpoint
from minikn.core.revision import RevisionSpec
from minikn.testing.datapath import running_datapath
from minikn.testing.fake_replicas import (
    Seen,
    aiohttp_factory,
    isvc_route,
    revision,
    settings,
    table,
    to,
)

IRIS = revision("iris")
ROUTES = table(isvc_route("iris", predictor=[to(IRIS)]))
PREDICT = "/v1/models/iris:predict"


async def test_first_request_at_zero_replicas_is_answered_once_a_replica_is_ready(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen)) as dp:
        assert dp.replicas.running.get(IRIS.name) is None
        async with client.post(dp.url + PREDICT, json={"instances": [[1]]}) as resp:
            assert resp.status == 200
            assert (await resp.json())["revision"] == IRIS.name
        assert dp.replicas.pokes == [IRIS.name]
        assert len(dp.replicas.running[IRIS.name]) == 1


async def test_1000_requests_sent_during_a_cold_start_all_succeed_exactly_once(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    seen.ready_gate = asyncio.Event()
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen)) as dp:

        async def one(i: int) -> int:
            headers = {"x-request-id": f"req-{i}"}
            async with client.post(dp.url + PREDICT, data=b"x" * i, headers=headers) as resp:
                assert (await resp.json())["bytes"] == i
                return resp.status

        tasks = [asyncio.create_task(one(i)) for i in range(1000)]
        deadline = time.monotonic() + 30
        while dp.activator.buffered(IRIS.name) < 1000:
            assert time.monotonic() < deadline, dp.activator.buffered(IRIS.name)
            await asyncio.sleep(0.01)
        assert seen.ids == []  # all held in the activator while the replica starts
        seen.ready_gate.set()
        statuses = await asyncio.gather(*tasks)
        assert statuses == [200] * 1000
        assert sorted(seen.ids) == sorted(f"req-{i}" for i in range(1000))
        assert dp.replicas.pokes == [IRIS.name]


async def test_full_buffer_answers_503_with_retry_after_at_once(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    seen.ready_gate = asyncio.Event()  # never ready during the test
    conf = settings(maxBufferedRequests=2, retryAfterSeconds=3)
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), settings=conf) as dp:
        held = [asyncio.create_task(client.get(dp.url + PREDICT)) for _ in range(2)]
        deadline = time.monotonic() + 10
        while dp.activator.buffered(IRIS.name) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        # At once: answered while no replica can become ready (a request that waited for
        # capacity would wait until the gate opens, below).
        async with asyncio.timeout(5), client.get(dp.url + PREDICT) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "3"
            assert "buffer full" in (await resp.json())["error"]
        assert not any(task.done() for task in held)
        assert dp.activator.buffered(IRIS.name) == 2
        seen.ready_gate.set()
        for task in held:
            async with await task as resp:
                assert resp.status == 200


async def test_component_timeout_answers_504_including_buffered_time(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    rev = revision("slow", timeout_seconds=1)
    routes = table(isvc_route("slow", predictor=[to(rev)]))
    seen.ready_gate = asyncio.Event()  # buffered for the whole timeout
    clock = FakeClock()
    async with running_datapath(routes, [rev], aiohttp_factory(seen), clock=clock) as dp:
        answer = asyncio.ensure_future(client.get(dp.url + "/v1/models/slow:predict"))
        async with asyncio.timeout(5):
            while dp.activator.buffered(rev.name) < 1:
                await asyncio.sleep(0.01)
        await clock.advance(0.9)
        done, _ = await asyncio.wait({answer}, timeout=0.3)  # the 50 ms sweeper ran meanwhile
        assert not done  # buffered, before the timeout: still waiting
        await clock.advance(0.2)
        async with await asyncio.wait_for(answer, 5) as resp:
            assert resp.status == 504
            assert await resp.json() == {"error": "activator request timeout"}
        assert dp.activator.buffered(rev.name) == 0
        seen.ready_gate.set()


async def test_replica_dropping_a_request_gives_502_for_that_request_only(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        async with client.post(dp.url + "/v1/models/iris/die", data=b"{}") as resp:
            assert resp.status == 502
            assert "closed the connection" in (await resp.json())["error"]
        assert len(seen.ids) == 1  # not retried: it reached the replica
        for _ in range(3):
            async with client.post(dp.url + PREDICT, data=b"{}") as resp:
                assert resp.status == 200


async def test_request_that_never_reached_a_replica_is_retried_on_another(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        live = dp.replicas.running[IRIS.name][0].endpoint
        dead = await _closed_port_endpoint()
        dp.activator.set_endpoints(IRIS.name, [dead, live])
        for _ in range(20):
            async with client.post(dp.url + PREDICT, data=b"{}") as resp:
                assert resp.status == 200
        assert len(seen.ids) == 20


async def _closed_port_endpoint() -> object:
    from minikn.core.endpoints import Endpoint

    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return Endpoint("a-dead", "127.0.0.1", port)


async def test_revision_that_cannot_become_ready_fails_buffered_requests_with_503_and_reason(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    seen.ready_gate = asyncio.Event()
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen)) as dp:
        task = asyncio.create_task(client.get(dp.url + PREDICT))
        deadline = time.monotonic() + 10
        while dp.activator.buffered(IRIS.name) < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        dp.activator.revision_failed(IRIS.name, "InsufficientGPU", "0 of 1 GPUs free")
        async with await task as resp:
            assert resp.status == 503
            error = (await resp.json())["error"]
            assert "InsufficientGPU" in error
            assert "0 of 1 GPUs free" in error
        async with client.get(dp.url + PREDICT) as resp:  # new requests fail at once, too
            assert resp.status == 503
        dp.activator.revision_recovered(IRIS.name)
        seen.ready_gate.set()


async def test_request_sent_to_a_replica_that_refuses_waits_for_the_next_one(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        live = dp.replicas.running[IRIS.name][0].endpoint
        dead = await _closed_port_endpoint()
        dp.activator.set_endpoints(IRIS.name, [dead])  # only a replica that refuses connections
        task = asyncio.create_task(client.post(dp.url + PREDICT, data=b"{}"))
        deadline = time.monotonic() + 10
        while dp.activator.buffered(IRIS.name) < 1:  # ejected; back in the buffer, not a 502
            assert time.monotonic() < deadline
            assert not task.done()
            await asyncio.sleep(0.01)
        dp.activator.set_endpoints(IRIS.name, [live])  # the replacement
        async with await task as resp:
            assert resp.status == 200
        assert len(seen.ids) == 1


async def test_buffered_request_after_a_refusing_replica_gets_the_failure_reason(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    async with running_datapath(ROUTES, [IRIS], aiohttp_factory(seen), warm=[IRIS.name]) as dp:
        dp.activator.set_endpoints(IRIS.name, [await _closed_port_endpoint()])
        task = asyncio.create_task(client.get(dp.url + PREDICT))
        deadline = time.monotonic() + 10
        while dp.activator.buffered(IRIS.name) < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        dp.activator.set_endpoints(IRIS.name, [])
        dp.activator.revision_failed(IRIS.name, "ModelLoadFailed", "iris: bad pickle")
        async with await task as resp:
            assert resp.status == 503
            assert (await resp.json())["error"] == (
                f"revision {IRIS.name} cannot become ready: ModelLoadFailed: iris: bad pickle"
            )


async def test_a_response_that_waited_for_a_cold_start_carries_its_phases(
    client: aiohttp.ClientSession, seen: Seen
) -> None:
    from minikn.core.coldstart import ColdStart
    from minikn.testing.datapath import StartedReplica

    base = aiohttp_factory(seen)

    async def factory(spec: RevisionSpec, replica_id: str) -> StartedReplica:
        started = await base(spec, replica_id)
        cold = ColdStart(replica_id, gpu=0.0, storage=0.25, create=0.5, load=1.0,
                         ready_at=time.monotonic())  # fmt: skip
        ep = started.endpoint
        endpoint = Endpoint(ep.replica_id, ep.host, ep.port, cold_start=cold)
        return StartedReplica(endpoint, started.stop)

    async with running_datapath(ROUTES, [IRIS], factory) as dp:
        async with client.post(dp.url + PREDICT, json={"instances": [[1]]}) as resp:
            assert resp.status == 200
            assert resp.headers["x-minikn-cold-start"] == "true"
            timing = resp.headers["Server-Timing"]
        names = [part.split(";")[0] for part in timing.split(", ")]
        assert names == ["gpu", "storage", "create", "load", "handover"]
        assert "storage;dur=250.0" in timing
        last = dp.activator.last_cold_start(IRIS.name)
        assert last is not None
        assert last[0] == dp.replicas.running[IRIS.name][0].endpoint.replica_id
        assert last[1]["load"] == 1.0
        assert last[1]["handover"] >= 0.0
        handovers = dp.metrics.registry.get_sample_value(
            "minikn_cold_start_phase_seconds_count",
            {"namespace": IRIS.namespace, "isvc": IRIS.isvc, "component": IRIS.component,
             "revision": IRIS.name, "phase": "handover"},
        )  # fmt: skip
        assert handovers == 1.0
        async with client.post(dp.url + PREDICT, json={"instances": [[1]]}) as resp:
            assert resp.status == 200  # warm: no cold start to report
            assert "x-minikn-cold-start" not in resp.headers
            assert "Server-Timing" not in resp.headers
