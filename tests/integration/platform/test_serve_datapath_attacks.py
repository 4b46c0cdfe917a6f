"""The data-path attacks of issue 12 replayed against a real ``minikn serve`` subprocess (process
backend, a real sklearn model server): a never-ending chunked body gets 413 once over the limit and
408 once it stalls; a replica killed with SIGKILL under load fails none of the requests that had
not reached it; a 10,000-request burst on a cold ``containerConcurrency: 0`` revision is answered
200 throughout while the platform's and the replica's open files stay bounded."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from minikn.apiserver.client import TOKEN_FILE
from minikn.modelserver.examples import ensure_example_models

pytestmark = pytest.mark.slow

MAX_BODY = 64 * 1024
BOUND = 100  # maxConnectionsPerReplica
IDLE_POOL = 100  # maxIdleConnectionsPerReplica (the default)

CONFIG = """\
minikn:
  storage: {{allowedRoots: [{models}]}}
  router: {{bodyIdleTimeout: 500ms, lingeringTime: 200ms, timeoutResolution: 50ms}}
  activator: {{maxBodyBytes: {max_body}, maxConnectionsPerReplica: {bound}}}
config-autoscaler: {{initial-scale: 0, allow-zero-initial-scale: true}}
"""

ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: {name}}}
spec:
  predictor:
    minReplicas: {min}
    maxReplicas: 1
    containerConcurrency: 0
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""

BURST_CLIENT = Path(__file__).parents[1] / "burst_client.py"


@dataclass
class Serve:
    pid: int
    api_port: int
    ingress_port: int
    token: str
    model: Path
    log: Path

    def apply(self, name: str, min_replicas: int) -> None:
        doc = ISVC.format(name=name, min=min_replicas, model=self.model).encode()
        headers = {"Content-Type": "application/yaml", "Authorization": f"Bearer {self.token}"}
        status, raw = _request(self.api_port, "POST", "/api/v1/apply", doc, headers)
        assert status == 200, raw

    def isvc(self, name: str) -> dict[str, Any]:
        path = f"/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/{name}"
        headers = {"Authorization": f"Bearer {self.token}"}
        status, raw = _request(self.api_port, "GET", path, None, headers)
        assert status == 200, raw
        result: dict[str, Any] = json.loads(raw)
        return result

    def model_status(self, name: str) -> int:
        """Status of ``GET /v1/models/<name>`` through the ingress."""
        host = {"Host": f"{name}.default.example.com"}
        return _request(self.ingress_port, "GET", f"/v1/models/{name}", None, host)[0]

    def replicas(self) -> list[psutil.Process]:
        """The model-server processes this serve started."""
        found = []
        for child in psutil.Process(self.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):  # one that exits meanwhile is not a replica
                if "minikn.modelserver" in " ".join(child.cmdline()):
                    found.append(child)
        return found


def _request(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body, {"Host": f"127.0.0.1:{port}", **headers})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _until(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def _serve(tmp_path: Path) -> Iterator[Serve]:
    """A running ``minikn serve`` with small body limits, cold-starting revisions at zero."""
    models = tmp_path / "models"
    ensure_example_models(models, ["sklearn-iris"])
    config = tmp_path / "minikn.yaml"
    config.write_text(CONFIG.format(models=models, max_body=MAX_BODY, bound=BOUND))
    state = tmp_path / "state"
    env = {**os.environ, "MINIKN_API_TOKEN": ""}
    log = tmp_path / "serve.log"  # a file, not a pipe: a pipe nobody reads would stall serve
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "minikn.cli.main", "serve", "--state-dir", str(state),
             "--backend", "process", "--api-port", "0", "--port", "0", "--host", "127.0.0.1",
             "--config", str(config), "--log-level", "WARNING"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    api = ingress = 0
    deadline = time.monotonic() + 60
    while not ingress and proc.poll() is None and time.monotonic() < deadline:
        text = log.read_text()
        if m := re.search(r"minikn: API on http://\S+:(\d+)", text):
            api = int(m.group(1))
        if m := re.search(r"ingress on http://\S+:(\d+)", text):
            ingress = int(m.group(1))
        time.sleep(0.1)
    if not (api and ingress):
        proc.kill()
        pytest.fail(f"minikn serve did not start: {log.read_text()}")
    token = (state / TOKEN_FILE).read_text().strip()
    s = Serve(proc.pid, api, ingress, token, models / "sklearn-iris", log)
    try:
        yield s
    finally:
        left = s.replicas()
        proc.send_signal(signal.SIGTERM)  # stops its replicas too
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        for replica in left:  # only if serve could not stop them
            with contextlib.suppress(psutil.Error):
                replica.kill()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    with _serve(tmp_path) as s:
        yield s


# kill -9 of a replica under load -----------------------------------------------------------------


@pytest.mark.timeout(180)
def test_replica_killed_under_load_fails_none_of_the_requests_that_had_not_reached_it(
    serve: Serve,
) -> None:
    serve.apply("die", 1)
    _until(lambda: serve.model_status("die") == 200, 90, "die ready")

    errors: list[str] = []

    async def scenario() -> tuple[list[int], list[int], int]:
        # GET (idempotent, no body): a request on a pooled connection the dead replica's kernel
        # closed (its close not yet seen) is sent again whatever its method, but one on a new
        # connection that the dying process's listening socket still accepted, then reset, may
        # be sent again only when idempotent and bodiless.
        url = f"http://127.0.0.1:{serve.ingress_port}/v1/models/die"
        headers = {"Host": "die.default.example.com"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def predict() -> int:
                async with session.get(url, headers=headers) as resp:
                    if resp.status != 200:
                        errors.append(await resp.text())
                    await resp.read()
                    return resp.status

            # Under load: warm keep-alive connections from the activator to the replica.
            warm = await asyncio.gather(*(predict() for _ in range(50)))
            (victim,) = serve.replicas()
            os.kill(victim.pid, signal.SIGKILL)
            # Sent at once after the kill, while the platform may still list the dead replica:
            # none of them reached it, so each is retried or waits for the replacement.
            after = await asyncio.gather(*(predict() for _ in range(100)))
            return warm, after, victim.pid

    warm, after, victim = asyncio.run(scenario())
    assert warm == [200] * 50
    assert after == [200] * 100, errors[:3]
    assert [p.pid for p in serve.replicas()] not in ([], [victim])  # a replacement serves


# A 10,000-request cold burst ---------------------------------------------------------------------

BURST = 10_000


@pytest.mark.timeout(300)
def test_cold_burst_of_10000_requests_is_all_200_with_bounded_open_files(serve: Serve) -> None:
    """10,000 requests at once on a revision at zero with ``containerConcurrency: 0``: every one
    answered 200; the replica never holds more than ``maxConnectionsPerReplica`` connections from
    the platform, the platform's open files stay within the clients' sockets plus that bound, and
    once the burst is answered the platform is back to its own files plus the idle pool."""
    serve.apply("burst", 0)
    _until(lambda: "url" in serve.isvc("burst").get("status", {}), 60, "burst routable")
    assert serve.replicas() == []  # cold
    platform = psutil.Process(serve.pid)
    before = platform.num_fds()

    client = subprocess.Popen(
        [sys.executable, str(BURST_CLIENT), str(serve.ingress_port), "burst.default.example.com",
         str(BURST)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    peak_platform = peak_replica = 0
    while client.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak_platform = max(peak_platform, platform.num_fds())
        for replica in serve.replicas():
            with contextlib.suppress(psutil.Error):
                peak_replica = max(peak_replica, replica.num_fds())
        time.sleep(0.05)
    out, _ = client.communicate()
    assert json.loads(out) == {"200": BURST}, serve.log.read_text()[-4000:]
    # The model server's own files (interpreter, logs, listener: ~30) plus at most BOUND.
    assert 0 < peak_replica <= BOUND + 64
    # Accepted client sockets, at most BOUND to the replica, the platform's own files.
    assert peak_platform <= before + BURST + BOUND + 64
    # The clients' sockets are closed; what remains is the idle pool to the replica.
    _until(lambda: platform.num_fds() <= before + IDLE_POOL + 64, 30, "the burst's sockets closed")


# A never-ending chunked body (after the tests above: the module's ``iris`` platform then runs
# alone instead of beside theirs) -------------------------------------------------------------

PREDICT = (
    b"POST /v1/models/iris:predict HTTP/1.1\r\nHost: iris.default.example.com\r\n"
    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    return status, json.loads(await reader.readexactly(length))["error"]


async def _closed(reader: asyncio.StreamReader) -> bool:
    """True once the server ends the connection (EOF, or a reset after lingering)."""
    try:
        while await reader.read(1 << 16):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """A ``minikn serve`` with a warm ``iris`` (one replica, ready), shared by the body tests."""
    with _serve(tmp_path_factory.mktemp("iris")) as serve:
        serve.apply("iris", 1)
        _until(lambda: serve.model_status("iris") == 200, 90, "iris ready")
        yield serve


def test_never_ending_chunked_body_gets_413_over_the_limit_and_the_connection_closes(
    iris: Serve,
) -> None:
    async def scenario() -> tuple[tuple[int, str], int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", iris.ingress_port)
        sent = 0

        async def endless() -> None:
            nonlocal sent
            writer.write(PREDICT)
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b"1000\r\n" + b"x" * 4096 + b"\r\n")
                    sent += 4096
                    await writer.drain()

        sending = asyncio.create_task(endless())
        answer = await _answer(reader)
        assert await _closed(reader)
        await sending  # ends only because the server closed the connection
        writer.close()
        return answer, sent

    answer, sent = asyncio.run(scenario())
    assert answer == (413, f"request body larger than {MAX_BODY} bytes")
    assert sent > MAX_BODY
    assert iris.model_status("iris") == 200  # the ingress and the replica keep serving


def test_chunked_body_that_stops_arriving_gets_408_and_the_connection_closes(iris: Serve) -> None:
    async def scenario() -> tuple[int, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", iris.ingress_port)
        writer.write(PREDICT + b"5\r\nhello\r\n")  # and then nothing more
        answer = await _answer(reader)
        assert await _closed(reader)
        writer.close()
        return answer

    assert asyncio.run(scenario()) == (408, "request body stalled: no bytes for 0.5 s")
    assert iris.model_status("iris") == 200
