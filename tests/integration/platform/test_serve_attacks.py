"""The attacks of issue 12 replayed against a real ``minikn serve`` (process backend): a web page's
cross-site POST and a DNS-rebinding Host are refused and run nothing; an alias bomb and a 10 MB
list are refused with a 4xx while the platform keeps answering."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikn.apiserver.client import TOKEN_FILE

pytestmark = pytest.mark.slow


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[int, str, Path]]:
    """(API port, token, state dir) of a running ``minikn serve``."""
    state = tmp_path / "state"
    env = {**os.environ, "MINIKN_API_TOKEN": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikn.cli.main", "serve", "--state-dir", str(state),
         "--backend", "process", "--api-port", "0", "--port", "0", "--host", "127.0.0.1",
         "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    port = 0
    deadline = time.monotonic() + 30
    while not port and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if m := re.search(r"API on http://\S+:(\d+)", line):
            port = int(m.group(1))
    if not port:
        proc.kill()
        pytest.fail(f"minikn serve did not start: {proc.stdout.read()}")
    try:
        yield port, (state / TOKEN_FILE).read_text().strip(), state
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


def _request(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        # the server may answer (413) and close before the whole body was sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _isvc(marker: Path) -> bytes:
    return json.dumps({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "pwn"},
        "spec": {"predictor": {"minReplicas": 1, "containers": [{
            "name": "kserve-container", "image": "busybox",
            "command": ["/bin/sh", "-c", f"touch {marker}; sleep 60"],
        }]}},
    }).encode()  # fmt: skip


def _applied(port: int, token: str) -> list[str]:
    status, raw = _request(
        port,
        "GET",
        "/apis/serving.kserve.io/v1beta1/inferenceservices",
        None,
        {"Host": f"127.0.0.1:{port}", "Authorization": f"Bearer {token}"},
    )
    assert status == 200
    return [i["metadata"]["name"] for i in json.loads(raw)["items"]]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "text/plain", "Origin": "http://evil.example"},
                     id="cross-site-simple-post"),
        pytest.param({"Content-Type": "text/plain"}, id="form-type-no-origin"),
        pytest.param({"Content-Type": "application/json", "Host": "evil.example:{port}"},
                     id="dns-rebinding"),
        pytest.param({"Content-Type": "application/json"}, id="no-token"),
    ],
)  # fmt: skip
def test_a_web_page_cannot_run_a_command(
    serve: tuple[int, str, Path], tmp_path: Path, headers: dict[str, str]
) -> None:
    port, token, _ = serve
    marker = tmp_path / "MARKER"
    headers = {"Host": f"127.0.0.1:{port}", **headers}
    headers["Host"] = headers["Host"].format(port=port)
    status, raw = _request(port, "POST", "/api/v1/apply", _isvc(marker), headers)
    assert status in (401, 403), raw
    assert _applied(port, token) == []
    # Nothing was applied, so nothing may start: had it been, the process backend would have
    # run the command at once (minReplicas 1). The state file agrees.
    assert not marker.exists()


def test_the_cli_way_with_the_token_is_accepted(serve: tuple[int, str, Path]) -> None:
    port, token, _ = serve
    body = json.dumps({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                       "metadata": {"name": "iris"},
                       "spec": {"predictor": {"sklearn": {"storageUri": "gs://b/1"}}}})  # fmt: skip
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
    }
    status, raw = _request(port, "POST", "/api/v1/apply", body.encode(), headers)
    assert status == 200, raw
    assert _applied(port, token) == ["iris"]


def _bomb() -> bytes:
    text = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
    text += 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i, name in enumerate("bcdefghi"):
        text += f"{name}: &{name} [" + ",".join([f"*{'abcdefghi'[i]}"] * 9) + "]\n"
    text += "metadata: {name: bomb}\nspec: {predictor: {sklearn: {storageUri: gs://b/1}, "
    text += "env: [{name: X, value: *i}]}}\n"
    return text.encode()


def _replicas(count: int) -> bytes:
    return (
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: many}\n"
        f"spec: {{predictor: {{minReplicas: {count}, sklearn: {{storageUri: gs://b/1}}}}}}\n"
    ).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        pytest.param(_bomb(), "application/yaml", 400, id="yaml-alias-bomb"),
        pytest.param(b"- {name: a, value: b}\n" * 500_000, "application/yaml", 413,
                     id="10-mb-list"),
        pytest.param(b"[" * 2_000_000 + b"]" * 1_000_000, "application/json", 400,
                     id="2.9-mb-deep-json"),
        pytest.param(_replicas(2**31 - 1), "application/yaml", 400, id="min-replicas-2^31-1"),
        pytest.param(_replicas(2**64), "application/yaml", 400, id="min-replicas-2^64"),
    ],
)  # fmt: skip
def test_hostile_documents_are_a_4xx_and_the_platform_keeps_answering(
    serve: tuple[int, str, Path], body: bytes, content_type: str, status: int
) -> None:
    port, token, _ = serve
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Content-Type": content_type,
        "Authorization": f"Bearer {token}",
    }
    got, raw = _request(port, "POST", "/api/v1/apply", body, headers)
    assert got == status, raw[:300]
    assert _applied(port, token) == []
    assert _request(port, "GET", "/healthz", None, {"Host": f"127.0.0.1:{port}"})[0] == 200
