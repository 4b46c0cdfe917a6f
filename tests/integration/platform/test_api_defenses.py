"""The API refuses what a web page, a rebinding DNS name or a hostile body could do, with a 4xx
and a reason, and nothing is applied."""

from __future__ import annotations

import asyncio
import errno
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from minikn.config import Settings
from minikn.controlplane.controller import Controller

from .conftest import Api, start_api

APPLY = "/api/v1/apply"
DELETE_IRIS = "/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices/iris"
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "iris"},
    "spec": {"predictor": {"sklearn": {"storageUri": "gs://b/1"}}},
}
JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}


def _port(api: Api) -> int:
    return int(api.url.rsplit(":", 1)[1])


async def _post(
    api: Api, data: bytes | str | io.BytesIO, headers: dict[str, str]
) -> tuple[int, Any]:
    async with api.session.post(api.url + APPLY, data=data, headers=headers) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "text/plain"}, id="text-plain"),
        pytest.param({"Content-Type": "text/plain; charset=utf-8"}, id="text-plain-charset"),
        pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, id="form"),
        pytest.param({"Content-Type": "multipart/form-data; boundary=x"}, id="multipart"),
        pytest.param({**JSON, "Origin": "http://evil.example"}, id="foreign-origin"),
        pytest.param({**JSON, "Origin": "null"}, id="null-origin"),
        pytest.param({**JSON, "Host": "evil.example"}, id="rebinding-host"),
        pytest.param({**JSON, "Host": "127.0.0.1:1"}, id="other-port"),
    ],
)
async def test_a_request_a_web_page_could_send_is_refused_and_changes_nothing(
    api: Api, headers: dict[str, str]
) -> None:
    status, body = await _post(api, json.dumps(ISVC), headers)
    assert status == 403, body
    assert body["reason"] == "Forbidden"
    assert api.controller.list_isvcs() == []


async def test_a_body_without_a_content_type_is_refused(api: Api) -> None:
    # aiohttp's client always names a type: send the request by hand, as a Blob fetch would.
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(api))
    payload = json.dumps(ISVC).encode()
    writer.write(
        f"POST {APPLY} HTTP/1.1\r\nHost: 127.0.0.1:{_port(api)}\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload
    )
    head = await reader.readline()
    writer.close()
    assert head.split()[1] == b"403"
    assert api.controller.list_isvcs() == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}"]
)
async def test_loopback_names_and_the_own_origin_are_accepted(api: Api, host: str) -> None:
    host = host.format(port=_port(api))
    headers = {**JSON, "Host": host, "Origin": f"http://{host}"}
    status, body = await _post(api, json.dumps(ISVC), headers)
    assert status == 200, body
    assert [i["metadata"]["name"] for i in api.controller.list_isvcs()] == ["iris"]


async def test_yaml_and_json_bodies_from_curl_or_the_cli_still_work(api: Api) -> None:
    for content_type in ("application/yaml", "application/x-yaml", "application/json"):
        status, _ = await _post(api, yaml.safe_dump(ISVC), {"Content-Type": content_type})
        assert status == 200, content_type  # YAML's flow style is JSON; JSON is YAML
    envelope = {"documents": [{"source": "iris.yaml", "index": 0, "body": ISVC, "error": None}]}
    status, _ = await _post(api, json.dumps(envelope), JSON)
    assert status == 200


async def test_reads_from_another_origin_are_not_refused(api: Api) -> None:
    # A browser does not let the page read the answer (no CORS headers); a GET changes nothing.
    async with api.session.get(api.url + "/healthz", headers={"Host": "evil.example"}) as r:
        assert r.status == 200
    async with api.session.get(
        api.url + "/apis/serving.kserve.io/v1beta1/inferenceservices",
        headers={"Origin": "http://evil.example"},
    ) as r:
        assert r.status == 200


@pytest.fixture
async def public_api(tmp_path: Path) -> AsyncIterator[tuple[Controller, str]]:
    ctl, runner, url = await start_api(tmp_path, token="t0k", host="0.0.0.0")
    yield ctl, url
    await runner.cleanup()
    await ctl.close()


async def test_beyond_loopback_any_host_is_accepted_and_the_token_is_required(
    public_api: tuple[Controller, str],
) -> None:
    ctl, url = public_api
    auth = {"Authorization": "Bearer t0k", "Host": "minikn.lan:8081"}
    async with aiohttp.ClientSession() as s:
        async with s.post(url + APPLY, json=ISVC, headers={"Host": "minikn.lan:8081"}) as r:
            assert r.status == 401
        async with s.post(url + APPLY, json=ISVC, headers={**auth, "Origin": "http://x.y"}) as r:
            assert r.status == 403  # the token does not make a cross-site request acceptable
        async with s.post(url + APPLY, json=ISVC, headers=auth) as r:
            assert r.status == 200
    assert [i["metadata"]["name"] for i in ctl.list_isvcs()] == ["iris"]


async def test_beyond_loopback_a_rebound_page_whose_origin_equals_its_host_is_refused(
    public_api: tuple[Controller, str],
) -> None:
    # A page on evil.example:8081 whose name was rebound to the API's address sends its own
    # Host and Origin; with the token (a public default one, say) it is still refused.
    ctl, url = public_api
    host = "evil.example:8081"
    headers = {"Authorization": "Bearer t0k", "Host": host, "Origin": f"http://{host}"}
    async with aiohttp.ClientSession() as s, s.post(url + APPLY, json=ISVC, headers=headers) as r:
        assert r.status == 403
        assert "allowedOrigins" in (await r.json())["message"]
    assert ctl.list_isvcs() == []


async def test_beyond_loopback_an_origin_listed_in_the_config_is_accepted(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"minikn": {"api": {"allowedOrigins": ["http://dashboard.lan:3000/"]}}}
    )
    ctl, runner, url = await start_api(tmp_path, token="t0k", host="0.0.0.0", settings=settings)
    auth = {"Authorization": "Bearer t0k", "Host": "minikn.lan:8081"}
    try:
        async with aiohttp.ClientSession() as s:
            listed = {**auth, "Origin": "http://Dashboard.lan:3000"}
            async with s.post(url + APPLY, json=ISVC, headers=listed) as r:
                assert r.status == 200
            other = {**auth, "Origin": "http://dashboard.lan:3001"}
            async with s.delete(url + DELETE_IRIS, headers=other) as r:
                assert r.status == 403
    finally:
        await runner.cleanup()
        await ctl.close()
    assert [i["metadata"]["name"] for i in ctl.list_isvcs()] == ["iris"]


async def test_a_non_ascii_authorization_header_is_a_401(
    public_api: tuple[Controller, str],
) -> None:
    _, url = public_api
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"GET /apis/serving.kserve.io/v1beta1/inferenceservices HTTP/1.1\r\n"
        b"Host: x\r\nAuthorization: Bearer \xc3\xa9\xff\r\nConnection: close\r\n\r\n"
    )
    head = await reader.readline()
    writer.close()
    assert head.split()[1] in (b"400", b"401")


def _deep(n: int) -> str:
    return "[" * n + "]" * n


def _bomb() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text


@pytest.mark.parametrize(
    ("data", "headers", "status", "words"),
    [
        pytest.param("", JSON, 400, "no documents", id="empty"),
        pytest.param("null", JSON, 400, "no documents", id="null-json"),
        pytest.param("---\n~\n", {"Content-Type": "application/yaml"}, 400, "no documents",
                     id="null-yaml"),
        pytest.param('{"documents": []}', JSON, 400, "no documents", id="empty-envelope"),
        pytest.param('{"documents": 5}', JSON, 400, "must be a list", id="envelope-not-a-list"),
        pytest.param('{"documents": [1]}', JSON, 400, "documents[0]", id="envelope-item"),
        pytest.param('{"documents": [{"index": "x", "body": {}}]}', JSON, 400,
                     "documents[0].index", id="envelope-index"),
        pytest.param('{"documents": [{"source": 1, "body": {}}]}', JSON, 400,
                     "documents[0].source", id="envelope-source"),
        pytest.param(_deep(5_000), JSON, 400, "deeper than", id="deep-json"),
        pytest.param(_deep(5_000), {"Content-Type": "application/yaml"}, 400, "YAML",
                     id="deep-yaml"),
        pytest.param(_bomb(), {"Content-Type": "application/yaml"}, 400, "nodes",
                     id="alias-bomb"),
        pytest.param("a: 1".encode("utf-16"), {"Content-Type": "application/yaml"}, 400,
                     "not UTF-8", id="utf-16"),
        pytest.param(b"a: \xff\xfe", {"Content-Type": "application/yaml"}, 400, "not UTF-8",
                     id="not-utf-8"),
        pytest.param(b"a: 1", {"Content-Type": "application/yaml; charset=ebcdic"}, 415,
                     "charset", id="unknown-charset"),
        pytest.param(b"a: 1", {"Content-Type": "application/yaml; charset=latin-1"}, 415,
                     "charset", id="latin-1"),
    ],
)  # fmt: skip
async def test_a_bad_body_is_a_4xx_with_a_reason_and_changes_nothing(
    api: Api, data: str | bytes, headers: dict[str, str], status: int, words: str
) -> None:
    got, body = await _post(api, data, headers)
    assert got == status, body
    assert words in body["message"]
    assert api.controller.list_isvcs() == []


async def test_a_body_over_3_mib_is_a_413(api: Api) -> None:
    big = json.dumps([ISVC] * 20_000).encode()  # about 4 MiB
    assert len(big) > 3 * 1024 * 1024
    got, body = await _post(api, io.BytesIO(big), JSON)
    assert got == 413
    assert "maxBodyBytes" in body["message"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * (100 * 1024)  # 4 MB in chunks, no Content-Length

    async with api.session.post(api.url + APPLY, data=chunks(), headers=JSON) as r:
        assert r.status == 413
    assert api.controller.list_isvcs() == []


@pytest.mark.parametrize(("code", "status"), [(errno.ENOSPC, 507), (errno.EIO, 503)])
async def test_a_failed_state_write_says_so_and_applies_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch, code: int, status: int
) -> None:
    def full(change: object) -> None:
        raise OSError(code, "disk says no")

    monkeypatch.setattr(api.controller._store, "write_change", full)  # the journal's append
    got, body = await _post(api, json.dumps(ISVC), JSON)
    assert got == status
    assert "cannot save the control-plane state" in body["message"]
    assert api.controller.list_isvcs() == []


async def test_bodies_handled_in_the_worker_process_apply_validate_and_refuse_as_in_a_thread(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate(
        {"minikn": {"api": {"parseInProcessBytes": 1, "maxDocumentNodes": 50}}}
    )
    ctl, runner, url = await start_api(tmp_path, settings=settings)
    bomb = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(url + APPLY, data=yaml.safe_dump(ISVC), headers=YAML) as r:
                assert r.status == 200, await r.text()
            async with s.post(url + APPLY, data=bomb, headers=YAML) as r:
                body = await r.json()
                assert r.status == 400, body
                assert "maxDocumentNodes" in body["message"]
            async with s.post(url + APPLY, data="a: [", headers=YAML) as r:
                body = await r.json()
                assert r.status == 400, body
                assert "invalid YAML" in body["message"]
            bad = {**ISVC, "spec": {"predictor": {"minReplicas": True, "sklearn": {}}}}
            async with s.post(url + "/api/v1/validate", json=bad) as r:
                body = await r.json()
                assert r.status == 200, body
                assert body["valid"] is False
                assert "spec.predictor.minReplicas" in body["documents"][0]["error"]
    finally:
        await runner.cleanup()
        await ctl.close()
    assert [i["metadata"]["name"] for i in ctl.list_isvcs()] == ["iris"]
