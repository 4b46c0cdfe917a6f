"""The Platform wiring in-process: API on port 0, --watch applies a directory, fan-outs forward."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import aiohttp

from minikn.config import Settings
from minikn.core.endpoints import Endpoint
from minikn.core.revision import RevisionSpec
from minikn.core.routes import RouteTable
from minikn.platform.server import Platform, PlatformOptions

ISVC = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: iris}
spec:
  predictor:
    sklearn: {storageUri: gs://b/1}
"""


class Recorder:
    def __init__(self) -> None:
        self.live: list[str] = []
        self.routes: RouteTable | None = None
        self.ready: list[str] = []
        self.endpoints: list[tuple[str, int]] = []
        self.changed = asyncio.Event()

    def revisions_changed(self, live: Sequence[RevisionSpec], routable: set[str]) -> None:
        self.live = [r.name for r in live]
        self.changed.set()

    def routes_changed(self, table: RouteTable) -> None:
        self.routes = table

    def endpoints_changed(self, revision: str, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints.append((revision, len(endpoints)))

    def revision_ready(self, revision: str) -> None:
        self.ready.append(revision)

    def revision_failed(self, revision: str, reason: str, message: str) -> None:
        pass

    def revision_recovered(self, revision: str) -> None:
        pass


async def test_platform_watch_dir_api_and_fanouts(tmp_path: Path) -> None:
    watch = tmp_path / "manifests"
    watch.mkdir()
    (watch / "iris.yaml").write_text(ISVC)
    options = PlatformOptions(
        state_dir=tmp_path / "state",
        api_port=0,
        ingress_host="127.0.0.1",
        ingress_port=0,
        watch=watch,
    )
    platform = Platform(Settings(), options)
    rec = Recorder()
    platform.fanout.subscribers.append(rec)
    platform.revision_listener.subscribers.append(rec)
    await platform.start()
    try:
        async with asyncio.timeout(10):  # the watcher applies the directory
            while not rec.live:
                rec.changed.clear()
                await rec.changed.wait()
        assert rec.live == ["iris-predictor-00001"]
        platform.revision_listener.revision_ready("iris-predictor-00001")
        platform.revision_listener.endpoints_changed(
            "iris-predictor-00001", [Endpoint("r1", "127.0.0.1", 1)]
        )
        assert rec.ready == ["iris-predictor-00001"]
        assert rec.endpoints == [("iris-predictor-00001", 1)]
        assert rec.routes is not None
        [route] = rec.routes.isvcs
        assert [t.percent for t in route.components[0].targets] == [100]
        url = f"http://127.0.0.1:{platform.api_port}/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/iris"
        auth = {"Authorization": f"Bearer {platform.token}"}
        async with aiohttp.ClientSession() as s, s.get(url, headers=auth) as r:
            body = await r.json()
        ready = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"
    finally:
        await platform.close()
