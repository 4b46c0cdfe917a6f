"""Step calls over HTTP: platform hosts through minikn's ingress, other URLs directly (aiohttp).

A step URL whose host is an InferenceService's (``<svc>.<ns>.svc.cluster.local``, ``<svc>.<ns>.svc``
or anything under the ingress domain) is sent to the ingress with that Host, so the call is routed,
split across revisions, buffered while the service scales from zero, metered and traced like any
request. Any other ``http``/``https`` URL is called as is. Bodies are read up to a bound; a
``text/event-stream`` answer is handed back as a stream when the executor allows one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict

from minikn.graph.executor import Reply, StepCallFailed

__all__ = ["IngressCaller", "ingress_target", "is_platform_host"]

_LOCAL_SUFFIXES = (".svc.cluster.local", ".svc")


def is_platform_host(host: str, domain: str) -> bool:
    host = host.lower().rstrip(".")
    domain = domain.lower().strip(".")
    return host.endswith(_LOCAL_SUFFIXES) or (bool(domain) and host.endswith("." + domain))


def ingress_target(url: str, ingress: str | None, domain: str) -> tuple[str, str | None]:
    """(URL to connect to, Host header or None) for a step URL (pure).

    ``http://iris.default.svc.cluster.local/v1/models/iris:predict`` with ingress
    ``127.0.0.1:8080`` -> (``http://127.0.0.1:8080/v1/models/iris:predict``,
    ``iris.default.svc.cluster.local``).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url[:200]!r} is not an http or https URL")
    if ingress and is_platform_host(parts.hostname, domain):
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return f"http://{ingress}{path}", parts.hostname
    return url, None


async def _chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    finally:
        resp.release()


class IngressCaller:
    """The real :class:`~minikn.graph.executor.Caller`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        ingress: str | None,
        domain: str,
        max_response_bytes: int,
        timeout_s: float | None = None,
    ) -> None:
        self._session = session
        self._ingress = ingress
        self._domain = domain
        self._max = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def call(
        self, url: str, body: bytes, headers: Sequence[tuple[str, str]], *, stream_ok: bool
    ) -> Reply:
        target, host = ingress_target(url, self._ingress, self._domain)
        out: CIMultiDict[str] = CIMultiDict(headers)
        if host is not None:
            out["Host"] = host
        out.setdefault("Content-Type", "application/json")
        try:
            resp = await self._session.post(
                target, data=body, headers=out, timeout=self._timeout, allow_redirects=False
            )
        except aiohttp.ClientError as exc:
            raise StepCallFailed(f"{type(exc).__name__}: {exc}") from exc
        ctype = resp.headers.get("Content-Type")
        if stream_ok and (ctype or "").startswith("text/event-stream"):
            return Reply(resp.status, content_type=ctype, stream=_chunks(resp), close=resp.release)
        try:
            chunks: list[bytes] = []
            total = 0
            async for chunk in resp.content.iter_any():
                total += len(chunk)
                if total > self._max:
                    raise StepCallFailed(f"the response is larger than {self._max} bytes")
                chunks.append(chunk)
            data = b"".join(chunks)
        except aiohttp.ClientError as exc:
            raise StepCallFailed(f"{type(exc).__name__}: {exc}") from exc
        finally:
            resp.release()
        return Reply(resp.status, data, ctype)
