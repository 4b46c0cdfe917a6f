"""Property: whatever bytes, documents, content types and headers reach the API, it answers
below 500, and what was applied changes only when the API said a change succeeded."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import start_api

TOKEN = "fuzz-token"
BASE = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices"
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "iris"},
    "spec": {"predictor": {"sklearn": {"storageUri": "gs://b/1"}}},
}


class Server:
    """The API on a loop in a thread, so hypothesis (synchronous) can drive it over a socket."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ctl, self.runner, url = asyncio.run_coroutine_threadsafe(
            start_api(tmp, token=TOKEN), self.loop
        ).result(30)
        self.port = int(url.rsplit(":", 1)[1])

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        asyncio.run_coroutine_threadsafe(self.ctl.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def applied(self) -> Any:
        status, raw = self.request(
            "GET",
            "/apis/serving.kserve.io/v1beta1/inferenceservices",
            None,
            {"Host": f"127.0.0.1:{self.port}", "Authorization": f"Bearer {TOKEN}"},
        )
        assert status == 200
        return [(i["metadata"], i["spec"]) for i in json.loads(raw)["items"]]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("fuzz"))
    yield s
    s.close()


_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=30,
)


@st.composite
def _isvc_like(draw: st.DrawFn) -> Any:
    """An ISVC with random fields changed: most reach admission, some pass it."""
    doc: Any = json.loads(json.dumps(ISVC))
    doc["metadata"]["name"] = draw(st.sampled_from(["iris", "other", "Bad", "", "a" * 70]))
    for key in draw(st.lists(st.sampled_from(["minReplicas", "maxReplicas", "timeout",
                                               "containerConcurrency", "sklearn", "foo"]),
                             max_size=3)):  # fmt: skip
        doc["spec"]["predictor"][key] = draw(_json)
    return doc


_documents = st.one_of(
    _json,
    _isvc_like(),
    st.lists(_isvc_like(), min_size=1, max_size=3).map(
        lambda ds: {"documents": [{"source": "f.yaml", "index": i, "body": d} for i, d in
                                  enumerate(ds)]}
    ),
    st.fixed_dictionaries({"documents": _json}),
)  # fmt: skip


@st.composite
def _body(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["json", "yaml", "bytes", "text"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=200)).encode(draw(st.sampled_from(["utf-8", "utf-16"])))
    doc = draw(_documents)
    if kind == "json":
        return json.dumps(doc).encode()
    return yaml.safe_dump(doc, allow_unicode=True).encode()


_content_types = st.sampled_from([
    None, "application/json", "application/yaml", "application/x-yaml", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=z",
    "application/json; charset=utf-8", "application/yaml; charset=utf-16",
    "application/json; charset=nonsense", "application/octet-stream", "}{;;=",
])  # fmt: skip
_targets = st.sampled_from([
    ("POST", "/api/v1/apply"), ("POST", "/api/v1/validate"), ("POST", BASE),
    ("PUT", BASE + "/iris"), ("DELETE", BASE + "/iris"), ("PATCH", BASE + "/iris"),
])  # fmt: skip
_SUCCESS_CHANGES = {"/api/v1/apply", BASE, BASE + "/iris"}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=_targets,
    body=_body(),
    content_type=_content_types,
    origin=st.sampled_from([None, "own", "http://evil.example", "null"]),
    host=st.sampled_from(["own", "localhost", "evil.example:8081"]),
    auth=st.sampled_from(["good", None, "Bearer wrong", "Bearer \xe9t\xe9", "Basic x"]),
)
def test_any_request_is_answered_below_500_and_only_a_success_changes_state(
    server: Server,
    *,
    target: tuple[str, str],
    body: bytes,
    content_type: str | None,
    origin: str | None,
    host: str,
    auth: str | None,
) -> None:
    method, path = target
    own = f"127.0.0.1:{server.port}"
    headers = {"Host": {"own": own, "localhost": f"localhost:{server.port}"}.get(host, host)}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if origin is not None:
        headers["Origin"] = f"http://{own}" if origin == "own" else origin
    if auth is not None:
        headers["Authorization"] = f"Bearer {TOKEN}" if auth == "good" else auth
    before = server.applied()
    status, raw = server.request(method, path, body, headers)
    assert status < 500, raw[:500]
    if not (200 <= status < 300 and path in _SUCCESS_CHANGES):
        assert server.applied() == before, (status, raw[:300])
    if status >= 400:
        assert json.loads(raw)["message"]  # every refusal says why
