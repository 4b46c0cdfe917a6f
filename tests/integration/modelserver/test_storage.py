"""The storage initializer against real local servers: aiohttp (http) and moto (s3)."""

from __future__ import annotations

import asyncio
import io
import tarfile
import zipfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from minikn.config.local import StorageConfig
from minikn.core.errors import InvalidInput, NotFound, PermanentError, RetryableError
from minikn.modelserver.storage import ModelStore
from minikn.modelserver.storage.__main__ import main as storage_main


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


class FileServer:
    """Serves fixed bodies; counts GETs per path; can gate and truncate responses."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.gets: Counter[str] = Counter()
        self.gate = asyncio.Event()
        self.gate.set()
        self.truncate: set[str] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path not in self.files:
            return web.Response(status=404)
        data = self.files[path]
        headers = {"ETag": f'"{hash(data)}"', "Content-Length": str(len(data))}
        if request.method == "HEAD":
            return web.Response(headers=headers)
        self.gets[path] += 1
        await self.gate.wait()
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        if path in self.truncate:
            await resp.write(data[: len(data) // 2])
            request.transport.close()  # type: ignore[union-attr]
            return resp
        await resp.write(data)
        await resp.write_eof()
        return resp


@pytest.fixture
async def files() -> AsyncIterator[tuple[FileServer, str]]:
    state = FileServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield state, f"http://127.0.0.1:{server.port}"
    await server.close()


def store(tmp_path: Path, **config: Any) -> ModelStore:
    return ModelStore(StorageConfig(**config), tmp_path / "cache")


async def test_http_single_file_is_cached_and_not_downloaded_again(
    files: tuple[FileServer, str], tmp_path: Path
) -> None:
    server, base = files
    server.files["/m/model.joblib"] = b"model-bytes"
    first = await store(tmp_path).fetch(f"{base}/m/model.joblib")
    # A second store (another replica, another revision) over the same cache.
    second = await store(tmp_path).fetch(f"{base}/m/model.joblib")
    assert first == second
    assert (first / "model.joblib").read_bytes() == b"model-bytes"
    assert server.gets["/m/model.joblib"] == 1


async def test_http_content_change_downloads_again(
    files: tuple[FileServer, str], tmp_path: Path
) -> None:
    server, base = files
    server.files["/model.joblib"] = b"v1"
    first = await store(tmp_path).fetch(f"{base}/model.joblib")
    server.files["/model.joblib"] = b"v2-longer"
    second = await store(tmp_path).fetch(f"{base}/model.joblib")
    assert first != second
    assert (second / "model.joblib").read_bytes() == b"v2-longer"
    assert server.gets["/model.joblib"] == 2


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("m.tar.gz", tar_gz({"model.joblib": b"t", "sub/extra.txt": b"e"})),
        ("m.tgz", tar_gz({"model.joblib": b"t", "sub/extra.txt": b"e"})),
        ("m.zip", zip_bytes({"model.joblib": b"t", "sub/extra.txt": b"e"})),
    ],
)
async def test_http_archives_are_unpacked(
    files: tuple[FileServer, str], tmp_path: Path, name: str, body: bytes
) -> None:
    server, base = files
    server.files[f"/{name}"] = body
    out = await store(tmp_path).fetch(f"{base}/{name}")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "model.joblib",
        "sub/extra.txt",
    ]


async def test_http_zip_slip_is_refused_and_nothing_cached(
    files: tuple[FileServer, str], tmp_path: Path
) -> None:
    server, base = files
    server.files["/evil.zip"] = zip_bytes({"../../escaped.txt": b"x"})
    with pytest.raises(InvalidInput, match="escapes"):
        await store(tmp_path).fetch(f"{base}/evil.zip")
    assert not list((tmp_path / "cache").iterdir())
    assert not list(tmp_path.rglob("escaped.txt"))


async def test_truncated_download_is_never_used(
    files: tuple[FileServer, str], tmp_path: Path
) -> None:
    server, base = files
    server.files["/big.bin"] = b"y" * 100_000
    server.truncate.add("/big.bin")
    with pytest.raises(RetryableError):
        await store(tmp_path).fetch(f"{base}/big.bin")
    assert not list((tmp_path / "cache").iterdir())
    server.truncate.clear()
    out = await store(tmp_path).fetch(f"{base}/big.bin")
    assert (out / "big.bin").stat().st_size == 100_000


async def test_concurrent_fetches_share_one_download(
    files: tuple[FileServer, str], tmp_path: Path
) -> None:
    server, base = files
    server.files["/model.joblib"] = b"z"
    server.gate.clear()
    shared = store(tmp_path)
    fetches = [asyncio.create_task(shared.fetch(f"{base}/model.joblib")) for _ in range(5)]
    async with asyncio.timeout(10):
        while server.gets["/model.joblib"] == 0:
            await asyncio.sleep(0.01)
    server.gate.set()
    results = await asyncio.gather(*fetches)
    assert len(set(results)) == 1
    assert server.gets["/model.joblib"] == 1


async def test_http_404_is_not_found(files: tuple[FileServer, str], tmp_path: Path) -> None:
    _, base = files
    with pytest.raises(NotFound):
        await store(tmp_path).fetch(f"{base}/missing.joblib")


async def test_local_directory_is_used_in_place(tmp_path: Path) -> None:
    model = tmp_path / "models" / "iris"
    model.mkdir(parents=True)
    s = store(tmp_path, allowedRoots=[str(tmp_path / "models")])
    assert await s.fetch(str(model)) == model.resolve()
    assert await s.fetch(f"file://{model}") == model.resolve()


async def test_local_file_is_copied_into_a_directory(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"m")
    out = await store(tmp_path, allowedRoots=[str(tmp_path)]).fetch(str(tmp_path / "model.joblib"))
    assert (out / "model.joblib").read_bytes() == b"m"
    assert out.parent == tmp_path / "cache"


@pytest.mark.parametrize("uri", ["/etc", "file:///etc/passwd", "{root}/../outside"])
async def test_local_paths_outside_allowed_roots_are_refused(tmp_path: Path, uri: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    with pytest.raises(InvalidInput, match="outside the allowed roots"):
        await store(tmp_path, allowedRoots=[str(root)]).fetch(uri.format(root=root))


async def test_pvc_and_gs_map_to_host_directories(tmp_path: Path) -> None:
    (tmp_path / "vol" / "models" / "iris").mkdir(parents=True)
    s = store(tmp_path, pvc={"claim": str(tmp_path / "vol")}, gcs={"bucket": str(tmp_path / "vol")})
    assert await s.fetch("pvc://claim/models/iris") == (tmp_path / "vol/models/iris").resolve()
    assert await s.fetch("gs://bucket/models/iris") == (tmp_path / "vol/models/iris").resolve()
    with pytest.raises(InvalidInput, match="escapes"):
        await s.fetch("pvc://claim/../../etc")


@pytest.mark.parametrize(("uri", "key"), [("gs://b/m", "gcs"), ("pvc://c/m", "pvc")])
async def test_unmapped_pvc_and_gs_say_how_to_map(tmp_path: Path, uri: str, key: str) -> None:
    with pytest.raises(PermanentError, match=f"minikn.storage.{key}"):
        await store(tmp_path).fetch(uri)


async def test_unsupported_scheme_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="unsupported storageUri scheme"):
        await store(tmp_path).fetch("ftp://host/model")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="models")
    client.put_object(Bucket="models", Key="iris/model.joblib", Body=b"sk")
    client.put_object(Bucket="models", Key="iris/extra/meta.json", Body=b"{}")
    client.put_object(Bucket="models", Key="iris-old/model.joblib", Body=b"old")
    client.put_object(Bucket="models", Key="single.bst", Body=b"bst")
    yield client
    for item in client.list_objects_v2(Bucket="models").get("Contents", []):
        client.delete_object(Bucket="models", Key=item["Key"])
    client.delete_bucket(Bucket="models")


async def test_s3_prefix_downloads_once(s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    s = store(tmp_path, s3Endpoint=s3_endpoint)
    out = await s.fetch("s3://models/iris")
    assert (out / "model.joblib").read_bytes() == b"sk"
    assert (out / "extra" / "meta.json").read_bytes() == b"{}"
    assert not (out / "iris-old").exists()
    mtime = (out / "model.joblib").stat().st_mtime_ns
    again = await store(tmp_path, s3Endpoint=s3_endpoint).fetch("s3://models/iris/")
    assert again != out  # a different URI spelling is its own cache entry
    assert await s.fetch("s3://models/iris") == out
    assert (out / "model.joblib").stat().st_mtime_ns == mtime


async def test_s3_single_object(s3: Any, s3_endpoint: str, tmp_path: Path) -> None:
    out = await store(tmp_path, s3Endpoint=s3_endpoint).fetch("s3://models/single.bst")
    assert (out / "single.bst").read_bytes() == b"bst"


async def test_s3_endpoint_from_env(
    s3: Any, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    out = await store(tmp_path).fetch("s3://models/single.bst")
    assert (out / "single.bst").exists()


@pytest.mark.parametrize(
    ("uri", "error"), [("s3://models/nothing-here", NotFound), ("s3://nobucket/x", NotFound)]
)
async def test_s3_missing_is_not_found(
    s3: Any, s3_endpoint: str, tmp_path: Path, uri: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store(tmp_path, s3Endpoint=s3_endpoint).fetch(uri)


def test_cli_copies_the_model_into_dest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.joblib").write_bytes(b"m")
    dest = tmp_path / "mnt" / "models"
    code = storage_main(
        [str(src), str(dest), "--cache-dir", str(tmp_path / "c"), "--allowed-root", str(tmp_path)]
    )
    assert code == 0
    assert (dest / "model.joblib").read_bytes() == b"m"
    assert storage_main(["/etc", str(dest), "--allowed-root", str(tmp_path)]) == 1


async def test_relative_file_uri_resolves_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config" / "examples" / "models" / "iris").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    # The working directory is no longer a default root (issue 12.9); allow it explicitly.
    out = await store(tmp_path, allowedRoots=[str(tmp_path)]).fetch(
        "file://./config/examples/models/iris"
    )
    assert out == (tmp_path / "config" / "examples" / "models" / "iris").resolve()
