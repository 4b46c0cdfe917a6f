"""Request bodies parsed (and validated) off the event loop: small ones in a thread, large ones in
a bounded, lazily spawned process pool (parsing holds the GIL, so a thread alone stalls the data
path)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from aiohttp import web

from minikn.api.documents import Document, DocumentLimits, parse_bounded
from minikn.apiserver.envelope import unwrap_documents
from minikn.config import Settings
from minikn.controlplane.prevalidate import Prevalidated, prevalidate
from minikn.core.errors import RetryableError

__all__ = ["PARSER", "PARSE_NICE", "BodyParser"]

log = logging.getLogger("minikn.apiserver.parsing")
T = TypeVar("T")

PARSE_NICE = 10
"""How much a parse worker lowers its priority: it parses with the CPU the data path leaves."""


class BodyParser:
    """Parses bodies of at least ``process_bytes`` characters in up to ``workers`` processes
    (started at the first such body, by ``spawn``: the server's threads are not forked), the rest
    in a thread. Owned by the API app, which calls :meth:`close` at cleanup."""

    def __init__(self, *, workers: int, process_bytes: int) -> None:
        self._workers = workers
        self._process_bytes = process_bytes
        self._pool: ProcessPoolExecutor | None = None

    async def parse(
        self, text: str, source: str, limits: DocumentLimits, *, as_json: bool
    ) -> list[Any]:
        return await self.run(len(text), _parse, text, source, limits, as_json)

    async def parse_documents(
        self, text: str, source: str, limits: DocumentLimits, *, as_json: bool
    ) -> list[Document]:
        """The documents of an apply body (:func:`unwrap_documents`), with their digests."""
        return await self.run(len(text), _parse_documents, text, source, limits, as_json)

    async def parse_apply(
        self,
        text: str,
        source: str,
        limits: DocumentLimits,
        *,
        as_json: bool,
        settings: Settings | None,
    ) -> tuple[list[Document], list[Prevalidated] | None]:
        """:meth:`parse_documents`; for a body parsed in a worker process, also each document
        validated there with ``settings`` (:func:`prevalidate`: the controller then does not
        validate it on the event loop). Small bodies, or no ``settings``: (documents, None)."""
        if settings is None or len(text) < self._process_bytes:
            return await self.parse_documents(text, source, limits, as_json=as_json), None
        return await self.run(
            len(text), _parse_and_prevalidate, text, source, limits, as_json, settings
        )

    async def run(self, size: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` for a body of ``size`` characters: in a thread below ``process_bytes``,
        else in a worker process (``fn`` and its arguments must pickle)."""
        if size < self._process_bytes:
            return await asyncio.to_thread(fn, *args)
        pool = self._ensure_pool()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool as exc:
            # A worker died (killed, out of memory): the next large body gets a fresh pool.
            self._drop_pool(pool)
            raise RetryableError(
                "the process parsing the request body died; nothing was changed: try again"
            ) from exc

    def prestart(self) -> Future[None]:
        """Start the worker process now, in the background, so that the first large body does not
        wait for a fresh interpreter to import minikn (about a second)."""
        return self._ensure_pool().submit(_ready)

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            log.info("parsing large request bodies in up to %d process(es)", self._workers)
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
            )
        return self._pool

    def _drop_pool(self, pool: ProcessPoolExecutor) -> None:
        if self._pool is pool:
            self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._pool is not None:
            self._drop_pool(self._pool)


def _ready() -> None:
    """In a worker: nothing (submitted by :meth:`BodyParser.prestart` to start the worker)."""


def _init_worker() -> None:
    """In a worker: yield the CPU to the server (:data:`PARSE_NICE`), exit with it."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice here
        os.nice(PARSE_NICE)
    _exit_with_parent()


def _exit_with_parent() -> None:
    """In a worker: exit when the server does, even when it was killed and never shut the pool
    down (an idle worker would otherwise outlive it)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _parse(text: str, source: str, limits: DocumentLimits, as_json: bool) -> list[Any]:
    return parse_bounded(text, source, limits, as_json=as_json)


def _parse_documents(
    text: str, source: str, limits: DocumentLimits, as_json: bool
) -> list[Document]:
    return unwrap_documents(parse_bounded(text, source, limits, as_json=as_json))


def _parse_and_prevalidate(
    text: str, source: str, limits: DocumentLimits, as_json: bool, settings: Settings
) -> tuple[list[Document], list[Prevalidated]]:
    docs = _parse_documents(text, source, limits, as_json)
    return docs, prevalidate(docs, settings)


PARSER = web.AppKey("body_parser", BodyParser)
"""The API app's parser (created with the app, closed at its cleanup)."""
