"""The batcher's timing and fan-out on a fake clock and an in-memory upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from minikn.activator.agent.batcher import Batcher
from minikn.activator.agent.types import UpstreamResponse, json_response
from minikn.core.clock import FakeClock
from minikn.core.errors import GatewayTimeout, Unavailable
from minikn.core.revision import BatcherSpec

PATH = "/v1/models/m:predict"


class EchoUpstream:
    """Answers each instance with itself; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.error: Exception | None = None

    async def __call__(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> UpstreamResponse:
        self.calls.append((method, path, dict(headers), json.loads(body) if body else None))
        if self.error is not None:
            raise self.error
        if path.endswith(":predict"):
            return json_response(200, {"predictions": json.loads(body)["instances"]})
        return UpstreamResponse(200, {"Content-Type": "text/plain"}, b"passthrough")


def _body(*instances: Any) -> bytes:
    return json.dumps({"instances": list(instances)}).encode()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _predictions(answer: UpstreamResponse) -> Any:
    return json.loads(answer.body)["predictions"]


async def test_batch_fires_exactly_at_max_latency(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(max_batch_size=10, max_latency_ms=500), clock=fake_clock)
    first = asyncio.create_task(batcher.handle("POST", PATH, {}, _body(1, 2), upstream))
    await _settle()
    await fake_clock.advance(0.2)
    second = asyncio.create_task(batcher.handle("POST", PATH, {}, _body(3), upstream))
    await fake_clock.advance(0.299)
    assert upstream.calls == []
    assert not first.done()
    await fake_clock.advance(0.001)
    a, b = await asyncio.gather(first, second)
    assert [c[3] for c in upstream.calls] == [{"instances": [1, 2, 3]}]
    assert (_predictions(a), _predictions(b)) == ([1, 2], [3])
    assert json.loads(a.body)["batchId"] == json.loads(b.body)["batchId"] != ""
    await batcher.close()


async def test_batch_fires_at_once_when_full_and_the_next_opens_a_new_one(
    fake_clock: FakeClock,
) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(max_batch_size=3, max_latency_ms=5000), clock=fake_clock)
    callers = [
        asyncio.create_task(batcher.handle("POST", PATH, {}, _body(i), upstream)) for i in range(4)
    ]
    _done, _ = await asyncio.wait(callers[:3])
    assert [_predictions(t.result()) for t in callers[:3]] == [[0], [1], [2]]
    assert not callers[3].done()
    await fake_clock.advance(5.0)
    assert _predictions(await callers[3]) == [3]
    assert [c[3]["instances"] for c in upstream.calls] == [[0, 1, 2], [3]]
    await batcher.close()


async def test_a_request_larger_than_max_is_sent_as_is(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(max_batch_size=2), clock=fake_clock)
    answer = await batcher.handle("POST", PATH, {}, _body(*range(5)), upstream)
    assert _predictions(answer) == [0, 1, 2, 3, 4]
    assert len(upstream.calls) == 1
    await batcher.close()


async def test_batches_are_kept_per_path(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(max_batch_size=2), clock=fake_clock)
    a = asyncio.create_task(batcher.handle("POST", "/v1/models/a:predict", {}, _body(1), upstream))
    b = asyncio.create_task(batcher.handle("POST", "/v1/models/b:predict", {}, _body(2), upstream))
    await _settle()
    assert upstream.calls == []
    await fake_clock.advance(5.0)
    await asyncio.gather(a, b)
    assert sorted(c[1] for c in upstream.calls) == ["/v1/models/a:predict", "/v1/models/b:predict"]
    await batcher.close()


async def test_batch_request_carries_first_callers_headers_as_json(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(max_batch_size=1), clock=fake_clock)
    headers = {"content-type": "text/plain", "Content-Length": "9", "traceparent": "tp"}
    await batcher.handle("POST", PATH, headers, _body(1), upstream)
    sent = upstream.calls[0][2]
    assert sent == {"traceparent": "tp", "Content-Type": "application/json"}


async def test_non_predict_requests_pass_through_unbatched(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(), clock=fake_clock)
    answer = await batcher.handle("GET", "/v1/models/m", {"a": "b"}, b"", upstream)
    assert answer.body == b"passthrough"
    assert upstream.calls == [("GET", "/v1/models/m", {"a": "b"}, None)]
    await batcher.close()


async def test_bad_body_is_answered_400_without_calling_upstream(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(), clock=fake_clock)
    answer = await batcher.handle("POST", PATH, {}, b"nope", upstream)
    assert (answer.status, answer.body) == (400, b"can't Unmarshal body\n")
    assert upstream.calls == []
    await batcher.close()


async def test_upstream_error_fails_every_caller_of_the_batch(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    upstream.error = GatewayTimeout("revision timed out")
    batcher = Batcher(BatcherSpec(max_batch_size=2), clock=fake_clock)
    callers = [
        asyncio.create_task(batcher.handle("POST", PATH, {}, _body(i), upstream)) for i in range(2)
    ]
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(r, GatewayTimeout) for r in results)
    await batcher.close()


async def test_close_fails_queued_callers_with_503(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(max_batch_size=10), clock=fake_clock)
    caller = asyncio.create_task(batcher.handle("POST", PATH, {}, _body(1), upstream))
    await _settle()
    await batcher.close()
    with pytest.raises(Unavailable):
        await caller
    with pytest.raises(Unavailable):
        await batcher.handle("POST", PATH, {}, _body(1), upstream)
    assert upstream.calls == []


async def test_zero_spec_values_fall_back_to_kserve_defaults(fake_clock: FakeClock) -> None:
    upstream = EchoUpstream()
    batcher = Batcher(BatcherSpec(max_batch_size=0, max_latency_ms=0), clock=fake_clock)
    caller = asyncio.create_task(batcher.handle("POST", PATH, {}, _body(1), upstream))
    await _settle()
    await fake_clock.advance(4.999)
    assert not caller.done()
    await fake_clock.advance(0.001)
    assert _predictions(await caller) == [1]
    await batcher.close()
