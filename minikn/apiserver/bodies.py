"""Request bodies: read bounded, decoded as UTF-8, parsed bounded (shared by every API path)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minikn.api.documents import Document, DocumentLimits
from minikn.apiserver.parsing import PARSER
from minikn.config import Settings
from minikn.config.api import ApiConfig
from minikn.controlplane.prevalidate import Prevalidated
from minikn.core.errors import InvalidInput, PayloadTooLarge, PermanentError

__all__ = [
    "UnsupportedMediaType",
    "decode_body",
    "parse_apply_documents",
    "parse_body",
    "parse_raw_documents",
    "parse_sized_body",
    "read_body",
]


class UnsupportedMediaType(PermanentError):
    """A body in a charset other than UTF-8 (or a patch type not accepted): 415."""

    status = 415


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, never buffering more than ``limit`` bytes (413 beyond, at once when
    ``Content-Length`` says so)."""
    too_large = PayloadTooLarge(
        f"the request body is larger than {limit} bytes (minikn.api.maxBodyBytes, "
        "Kubernetes' API server limit): split the documents"
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    buf = bytearray()
    async for chunk in request.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            raise too_large
    return bytes(buf)


def decode_body(raw: bytes, charset: str | None) -> str:
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"charset {charset[:40]!r} is not supported: send the body in UTF-8"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the request body is not UTF-8 (byte {exc.start}): send YAML or JSON in UTF-8"
        ) from exc


async def parse_body(request: web.Request, limits: ApiConfig, *, as_json: bool) -> list[Any]:
    """The documents of the body (bounded in bytes, nodes and depth; parsed off the loop)."""
    return (await parse_sized_body(request, limits, as_json=as_json))[0]


async def parse_sized_body(
    request: web.Request, limits: ApiConfig, *, as_json: bool
) -> tuple[list[Any], int]:
    """The documents of the body and its length in characters (bounded in bytes, nodes and
    depth; parsed off the loop by the app's :class:`BodyParser`: large bodies in a process)."""
    text, bounds = await _read_text(request, limits)
    bodies = await request.app[PARSER].parse(text, "<request>", bounds, as_json=as_json)
    return bodies, len(text)


async def parse_raw_documents(
    request: web.Request, raw: bytes, limits: ApiConfig, *, as_json: bool
) -> tuple[list[Document], int]:
    """The documents of an apply body read as ``raw`` (bare, or the CLI's envelope) with their
    content digests, and its length in characters: parsed, unwrapped and digested off the
    loop."""
    text, bounds = _text_of(raw, request.charset, limits)
    docs = await request.app[PARSER].parse_documents(text, "<request>", bounds, as_json=as_json)
    return docs, len(text)


async def parse_apply_documents(
    request: web.Request,
    raw: bytes,
    limits: ApiConfig,
    *,
    as_json: bool,
    settings: Settings | None,
) -> tuple[list[Document], list[Prevalidated] | None]:
    """:func:`parse_raw_documents` for an apply; a body large enough to be parsed in a worker
    process is also validated there (with ``settings``; None: not validated): the controller
    takes the results instead of validating on the event loop."""
    text, bounds = _text_of(raw, request.charset, limits)
    return await request.app[PARSER].parse_apply(
        text, "<request>", bounds, as_json=as_json, settings=settings
    )


async def _read_text(request: web.Request, limits: ApiConfig) -> tuple[str, DocumentLimits]:
    raw = await read_body(request, limits.max_body_bytes)
    return _text_of(raw, request.charset, limits)


def _text_of(raw: bytes, charset: str | None, limits: ApiConfig) -> tuple[str, DocumentLimits]:
    text = decode_body(raw, charset)
    if not text.strip():
        raise InvalidInput("no documents in the request body: send YAML or JSON documents")
    return text, DocumentLimits(limits.max_document_nodes, limits.max_document_depth)
