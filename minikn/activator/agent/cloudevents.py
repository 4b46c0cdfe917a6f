"""KServe's payload-logger CloudEvents in HTTP binary mode (pure: no I/O, time passed in).

Mirrors KServe's agent (``pkg/logger/handler.go`` and ``worker.go``, sent with the CloudEvents Go
SDK): the event attributes and extensions travel as ``Ce-*`` headers, written in Go's canonical
casing (``Ce-Id``, ``Ce-Inferenceservicename``; HTTP header names are case-insensitive anyway),
the payload is the raw body and ``Content-Type`` is the *request's* content type for both the
request and the response event. ``Ce-Metadata`` is always present: the JSON object of the
matched ``metadataHeaders`` (``{}`` when none matched), each a list of values keyed by the
canonical header name, compact as Go's ``json.Marshal`` writes it (keys sorted).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring

__all__ = [
    "CE_REQUEST",
    "CE_RESPONSE",
    "CloudEvent",
    "MetadataMatcher",
    "base_headers",
    "canonical_header_key",
    "encode_header_lines",
    "encode_metadata",
    "event_headers",
    "format_ce_time",
    "match_metadata",
    "with_event",
]

CE_REQUEST = "org.kubeflow.serving.inference.request"
CE_RESPONSE = "org.kubeflow.serving.inference.response"
SPEC_VERSION = "1.0"
_json_str = encode_basestring
"""A JSON string literal, non-ASCII kept (``ensure_ascii=False``); C-accelerated."""


def canonical_header_key(name: str) -> str:
    """Go's ``textproto.CanonicalMIMEHeaderKey``: ``x-request-id`` -> ``X-Request-Id``."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def format_ce_time(unix_seconds: float) -> str:
    """RFC 3339 in UTC with fractional seconds, trailing zeros trimmed (Go's RFC3339Nano)."""
    whole = int(unix_seconds)
    micros = round((unix_seconds - whole) * 1_000_000)
    if micros >= 1_000_000:
        whole, micros = whole + 1, 0
    if micros == 0:
        return _second(whole) + "Z"
    return "%s.%sZ" % (_second(whole), ("%06d" % micros).rstrip("0"))  # noqa: UP031 - hot path


class MetadataMatcher:
    """Picks the request headers named in ``metadataHeaders``: ``{canonical name: [values]}``.

    KServe compares Go's canonical header key with the configured names verbatim, so only
    canonically spelled names match there; minikn matches case-insensitively (a superset).
    """

    def __init__(self, wanted: Sequence[str]) -> None:
        self._wanted = {name.lower(): canonical_header_key(name) for name in wanted}

    def match(self, headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
        if not self._wanted:
            return {}
        found: dict[str, list[str]] = {}
        for name, value in headers:
            key = self._wanted.get(name.lower())
            if key is not None:
                found.setdefault(key, []).append(value)
        return found


def match_metadata(
    headers: Iterable[tuple[str, str]], wanted: Sequence[str]
) -> dict[str, list[str]]:
    """One-shot :class:`MetadataMatcher`."""
    return MetadataMatcher(wanted).match(headers)


def encode_metadata(metadata: Mapping[str, Sequence[str]]) -> str:
    """``Ce-Metadata``: compact JSON, keys sorted, as Go's ``json.Marshal`` writes a map."""
    if not metadata:
        return "{}"
    # What json.dumps(..., separators=(",", ":"), sort_keys=True, ensure_ascii=False) writes for
    # a map of string lists, without building a JSON encoder per call (this runs per request).
    fields = [f"{_json_str(k)}:[{','.join(map(_json_str, metadata[k]))}]" for k in sorted(metadata)]
    return "{" + ",".join(fields) + "}"


class CloudEvent:
    """One payload-log event, ready to POST: target URL, headers and raw body.

    Built from either form of its headers: the mapping, or ``Name: value\r\n`` lines (UTF-8)
    as the payload logger makes them (a sender writing raw HTTP uses those as they are); the
    other form is derived on first use.
    """

    __slots__ = ("_head", "_headers", "body", "url", "wire")

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        head: bytes = b"",
    ) -> None:
        if headers is None and not head:
            raise ValueError("a CloudEvent needs its headers")
        self.url = url
        self.body = body
        self._headers = headers
        self._head = head
        self.wire = b""
        """The whole HTTP request, when the sender encoded it ahead (see ``RawHttpSender``)."""

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is None:
            lines = self._head.decode("utf-8").split("\r\n")
            self._headers = dict(line.split(": ", 1) for line in lines if line)
        return self._headers

    @property
    def head(self) -> bytes:
        """The headers as ``Name: value\r\n`` lines, UTF-8."""
        if not self._head:
            self._head = encode_header_lines(self.headers)
        return self._head

    @property
    def id(self) -> str:
        return self.headers["Ce-Id"]

    @property
    def type(self) -> str:
        return self.headers["Ce-Type"]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CloudEvent):
            return NotImplemented
        return (self.url, dict(self.headers), self.body) == (
            other.url,
            dict(other.headers),
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CloudEvent({self.url!r}, {dict(self.headers)!r}, {self.body!r})"


def base_headers(
    *,
    ce_id: str,
    source: str,
    isvc: str,
    namespace: str,
    component: str,
    endpoint: str,
    metadata_json: str,
    content_type: str,
) -> dict[str, str]:
    """The headers a request event and its response event share (all but type and time)."""
    headers = {
        "Ce-Specversion": SPEC_VERSION,
        "Ce-Id": ce_id,
        "Ce-Source": source,
        "Ce-Inferenceservicename": isvc,
        "Ce-Namespace": namespace,
        "Ce-Component": component,
        "Ce-Endpoint": endpoint,
        "Ce-Metadata": metadata_json,
    }
    if content_type:  # omitted when the request had none
        headers["Content-Type"] = content_type
    return headers


def encode_header_lines(headers: Mapping[str, str]) -> bytes:
    """``Name: value\\r\\n`` lines, UTF-8 (see :attr:`CloudEvent.head`)."""
    return "".join([f"{name}: {value}\r\n" for name, value in headers.items()]).encode("utf-8")


def with_event(base: Mapping[str, str], ce_type: str, time: float) -> dict[str, str]:
    """``base`` plus the event's ``Ce-Type`` and ``Ce-Time``."""
    headers = dict(base)
    headers["Ce-Type"] = ce_type
    headers["Ce-Time"] = format_ce_time(time)
    return headers


def event_headers(
    *,
    ce_id: str,
    ce_type: str,
    source: str,
    time: float,
    isvc: str,
    namespace: str,
    component: str,
    endpoint: str,
    metadata: Mapping[str, Sequence[str]],
    content_type: str,
) -> dict[str, str]:
    """The binary-mode headers of one event."""
    base = base_headers(
        ce_id=ce_id,
        source=source,
        isvc=isvc,
        namespace=namespace,
        component=component,
        endpoint=endpoint,
        metadata_json=encode_metadata(metadata),
        content_type=content_type,
    )
    return with_event(base, ce_type, time)
