"""http(s):// model downloads: a single file, or an archive unpacked into the target."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import unquote, urlparse

import aiohttp

from minikn.core.errors import InvalidInput, NotFound, RetryableError
from minikn.modelserver.storage.archive import archive_kind, safe_extract

__all__ = ["PROGRESS_STEP", "http_download", "http_validators", "progress_marks"]

log = logging.getLogger("minikn.modelserver.storage")
PROGRESS_STEP = 64 * 2**20
"""Log progress every this many bytes."""
_CHUNK = 2**20
_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)


def progress_marks(done_before: int, done_after: int, step: int = PROGRESS_STEP) -> bool:
    """Whether a chunk crossed a progress mark (pure; the caller logs)."""
    return done_after // step > done_before // step


def _file_name(uri: str) -> str:
    name = PurePosixPath(unquote(urlparse(uri).path)).name
    if not name or name in (".", ".."):
        raise InvalidInput(f"{uri}: the URL names no file")
    return name


async def http_validators(uri: str) -> list[str]:
    """What identifies the content: ETag, Last-Modified and length from a HEAD request."""
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            session.head(uri, allow_redirects=True) as resp,
        ):
            if resp.status == 404:
                raise NotFound(f"{uri}: 404 Not Found")
            if resp.status >= 400:
                # Some servers refuse HEAD; the URI alone then keys the cache.
                return ["no-validators"]
            return [
                f"etag={resp.headers.get('ETag', '')}",
                f"modified={resp.headers.get('Last-Modified', '')}",
                f"length={resp.headers.get('Content-Length', '')}",
            ]
    except aiohttp.ClientError as exc:
        raise RetryableError(f"{uri}: unreachable: {exc}") from exc


def _open(path: Path) -> IO[bytes]:
    return path.open("wb")


async def http_download(uri: str, dest: Path) -> None:
    """Download ``uri`` into directory ``dest``; unpack archives; verify the length."""
    name = _file_name(uri)
    target = dest / name
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT, auto_decompress=False) as session,
            session.get(uri) as resp,
        ):
            if resp.status == 404:
                raise NotFound(f"{uri}: 404 Not Found")
            if resp.status >= 400:
                raise RetryableError(f"{uri}: HTTP {resp.status}")
            expected = resp.content_length
            done = 0
            out = await asyncio.to_thread(_open, target)
            try:
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                    before, done = done, done + len(chunk)
                    if progress_marks(before, done):
                        log.info("storage: %s: %d MiB of %s", uri, done >> 20, expected or "?")
            finally:
                await asyncio.to_thread(out.close)
    except aiohttp.ClientError as exc:
        raise RetryableError(f"{uri}: download failed: {exc}") from exc
    if expected is not None and done != expected:
        raise RetryableError(f"{uri}: got {done} bytes, expected {expected}; not used")
    log.info("storage: downloaded %s (%d bytes)", uri, done)
    if archive_kind(name):
        await asyncio.to_thread(safe_extract, target, dest)
        await asyncio.to_thread(target.unlink)
