"""``ModelStore``: storageUri -> a local directory, through a content-addressed cache.

A model is fetched once and shared by every replica of every revision: the cache key is a hash of
the URI and what identifies its content (HTTP ETag/Last-Modified/Content-Length, S3 keys+ETags+
sizes, a local file's size+mtime). A download goes to a temporary directory, is verified (the
byte count matches what the server announced; archives unpack cleanly) and is renamed into place
atomically, so a partial or corrupt download is never used. Concurrent fetches of one URI share
one download.

Local directories (a path, ``file://``, mapped ``pvc://``/``gs://``) are used in place; a local
file is copied into the cache so the result is always a directory (``/mnt/models``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

from minikn.config.local import StorageConfig
from minikn.core.errors import InvalidInput
from minikn.modelserver.storage.http import http_download, http_validators
from minikn.modelserver.storage.sources import local_source, s3_download, s3_listing

__all__ = ["ModelStore", "cache_key"]

log = logging.getLogger("minikn.modelserver.storage")
SCHEMES = ("", "file", "pvc", "gs", "http", "https", "s3")


def cache_key(uri: str, *validators: str) -> str:
    """The cache directory name for a URI and its content validators."""
    digest = hashlib.sha256("\n".join([uri, *validators]).encode()).hexdigest()
    return digest[:40]


class ModelStore:
    """Fetches models into ``cache_dir``; safe to share between replicas and revisions."""

    def __init__(self, config: StorageConfig, cache_dir: Path) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self._locks: dict[str, asyncio.Lock] = {}

    async def fetch(self, uri: str) -> Path:
        """A local directory holding the model at ``uri``."""
        scheme = urlparse(uri).scheme
        if scheme not in SCHEMES or (len(scheme) == 1 and uri[1:3] in (":\\", ":/")):
            raise InvalidInput(
                f"{uri}: unsupported storageUri scheme {scheme!r} "
                "(use a path, file://, http(s)://, s3://, pvc:// or gs://)"
            )
        lock = self._locks.setdefault(uri, asyncio.Lock())
        async with lock:
            if scheme in ("http", "https"):
                return await self._fetch_http(uri)
            if scheme == "s3":
                return await self._fetch_s3(uri)
            return await asyncio.to_thread(self._fetch_local, uri)

    # -- helpers ---------------------------------------------------------------------------
    def _cached(self, key: str) -> Path | None:
        path = self.cache_dir / key
        return path if path.is_dir() else None

    def _staging(self) -> Path:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".partial-", dir=self.cache_dir))

    def _commit(self, staging: Path, key: str) -> Path:
        final = self.cache_dir / key
        try:
            staging.rename(final)
        except OSError:
            # Another process committed the same key first: theirs is complete; drop ours.
            shutil.rmtree(staging, ignore_errors=True)
            if not final.is_dir():
                raise
        return final

    def _fetch_local(self, uri: str) -> Path:
        path = local_source(uri, self.config)
        if path.is_dir():
            return path
        st = path.stat()
        key = cache_key(str(path), str(st.st_size), str(st.st_mtime_ns))
        cached = self._cached(key)
        if cached is not None:
            return cached
        staging = self._staging()
        try:
            shutil.copy2(path, staging / path.name)
            if (staging / path.name).stat().st_size != st.st_size:
                raise InvalidInput(f"{uri}: {path} changed while it was copied")
            return self._commit(staging, key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    async def _fetch_http(self, uri: str) -> Path:
        validators = await http_validators(uri)
        return await self._fetch_once(
            uri, cache_key(uri, *validators), lambda staging: http_download(uri, staging)
        )

    async def _fetch_s3(self, uri: str) -> Path:
        client, bucket, prefix, objects = await asyncio.to_thread(s3_listing, uri, self.config)
        validators = [f"{o.key}:{o.etag}:{o.size}" for o in sorted(objects, key=lambda o: o.key)]

        async def download(staging: Path) -> None:
            await asyncio.to_thread(s3_download, client, bucket, prefix, objects, staging)

        return await self._fetch_once(uri, cache_key(uri, *validators), download)

    async def _fetch_once(
        self, uri: str, key: str, download: Callable[[Path], Awaitable[None]]
    ) -> Path:
        """The cached copy under ``key``, else ``download`` into a staging directory committed
        under ``key`` (a partial download is never used)."""
        cached = self._cached(key)
        if cached is not None:
            log.info("storage: %s served from cache %s", uri, key)
            return cached
        staging = await asyncio.to_thread(self._staging)
        try:
            await download(staging)
            return await asyncio.to_thread(self._commit, staging, key)
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
