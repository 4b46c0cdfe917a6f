"""The live dashboard in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
driven by selenium) against a real platform (process backend, real sockets): the page loads with
no console errors, lists the ISVCs, and the request-rate chart gains points and a non-zero rate
while the test sends load. A screenshot is kept (copied to ``$MINIKN_ARTIFACTS`` when set).

Chromium missing fails the test (CI installs it): the dashboard would go untested otherwise.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from minikn.api.documents import parse_text
from minikn.cli.commands.dashboard import dashboard_url
from minikn.platform.server import Platform

from .platform_helpers import running_platform, until_ready

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ISVC = """
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: dash-iris}}
spec:
  predictor:
    model:
      modelFormat: {{name: sklearn}}
      storageUri: file://{model}
"""


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.fail(
            "Chromium and its driver are required: apt-get install -y chromium chromium-driver"
        )
    return browser, driver


@pytest.fixture
def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _chromium()
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1800"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(options=opts, service=Service(driver))
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    async with running_platform(tmp_path) as (p, model):
        await p.controller.apply(parse_text(ISVC.format(model=model), "d.yaml"))
        await until_ready(p, "dash-iris")
        yield p


async def _until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``check`` (run in a thread: selenium blocks) until it returns something truthy."""
    try:
        async with asyncio.timeout(seconds):
            while not (got := await asyncio.to_thread(check)):
                await asyncio.sleep(0.2)
            return got
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def _send_load(platform: Platform, stop: asyncio.Event) -> int:
    url = f"http://127.0.0.1:{platform.ingress_port}/v1/models/dash-iris:predict"
    headers = {"Host": "dash-iris.default.example.com"}
    body = {"instances": [[6.8, 2.8, 4.8, 1.4]]}
    sent = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            async with session.post(url, json=body, headers=headers) as r:
                assert r.status == 200
                sent += 1
    return sent


def _text(d: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return str(d.find_element(By.ID, element_id).text)


async def test_the_dashboard_lists_isvcs_and_its_charts_move_under_load(
    platform: Platform, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url = dashboard_url(f"http://127.0.0.1:{platform.api_port}", platform.token)
    await asyncio.to_thread(browser.get, url)

    def listed() -> bool:
        rows = browser.find_elements(By.CSS_SELECTOR, "#isvcs tbody tr")
        return any("default/dash-iris" in r.text and "True" in r.text for r in rows)

    await _until(listed, 30, "the ISVC in the table")
    # The token left the address bar (kept in the tab's sessionStorage).
    assert "token" not in await asyncio.to_thread(lambda: browser.current_url)
    points_before = int(await asyncio.to_thread(_text, browser, "points"))

    stop = asyncio.Event()
    load = asyncio.create_task(_send_load(platform, stop))
    try:
        await _until(lambda: float(_text(browser, "rps-now") or 0) > 0, 30, "a non-zero rate")
        await _until(
            lambda: int(_text(browser, "points")) > points_before + 2, 30, "new chart points"
        )
    finally:
        stop.set()
        sent = await load
    assert sent > 0
    # The chart's uPlot canvases exist and show the revision's series.
    assert await asyncio.to_thread(
        lambda: len(browser.find_elements(By.CSS_SELECTOR, "#c-rps canvas")) >= 1
    )
    shot = tmp_path / "dashboard.png"
    assert await asyncio.to_thread(browser.save_screenshot, str(shot))
    if artifacts := os.environ.get("MINIKN_ARTIFACTS"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "dashboard.png")
    logs = await asyncio.to_thread(browser.get_log, "browser")
    errors = [e for e in logs if e.get("level") == "SEVERE"]
    assert errors == [], errors
    # However many polls the page made, the snapshot was built about once a second.
    assert platform.dashboard.computed > 0


async def test_the_state_endpoint_needs_the_token_and_the_page_does_not(platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.api_port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/dashboard/") as r:
            assert r.status == 200
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        async with session.get(base + "/api/v1/dashboard/state") as r:
            assert r.status == 401
        async with session.get(
            base + "/dashboard/", headers={"Host": f"evil.example:{platform.api_port}"}
        ) as r:
            assert r.status == 403  # DNS rebinding: a foreign Host gets nothing
        auth = {"Authorization": f"Bearer {platform.token}"}
        async with session.get(base + "/api/v1/dashboard/state", headers=auth) as r:
            assert r.status == 200
            snap = await r.json()
        assert [i["name"] for i in snap["catalog"]["isvcs"]] == ["dash-iris"]
        assert [r[2] for r in snap["catalog"]["revisions"]] == ["dash-iris"]
        assert snap["detail"]["isvc"] == "dash-iris"
        # A page holding the catalog's version gets only the live parts; a repeated poll within
        # the tick (its ETag) gets 304 and no body.
        known = f"{base}/api/v1/dashboard/state?catalog={snap['catalogVersion']}"
        async with session.get(known, headers=auth) as r:
            assert r.status == 200
            etag = r.headers["ETag"]
            assert "catalog" not in await r.json()
        async with session.get(known, headers={**auth, "If-None-Match": etag}) as r:
            assert r.status in (200, 304)  # 200 only if a tick ended in between
            if r.status == 304:
                assert await r.read() == b""
        async with session.get(f"{known}&revision={'x' * 300}", headers=auth) as r:
            assert r.status == 400
        # A page holding a tick gets only the summary rows changed after it and the events
        # after the newest it holds; a malformed event number is a 400.
        held = f"{known}&since={snap['tick']}&events={snap['events'][-1]['seq']}"
        async with session.get(held, headers=auth) as r:
            assert r.status == 200
            later = await r.json()
        assert later["summaryFull"] is False
        assert all(e["seq"] > snap["events"][-1]["seq"] for e in later["events"])
        for bad in ("-1", "x", "9" * 40):
            async with session.get(f"{known}&events={bad}", headers=auth) as r:
                assert r.status == 400
        async with session.get(base + "/dashboard/../api-token") as r:
            assert r.status in (401, 404)
