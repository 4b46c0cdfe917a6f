"""List paging as Kubernetes does it: ``?limit=N`` returns at most N items and, when more remain,
``metadata.continue``, an opaque token the client sends back as ``?continue=`` for the next page.

Pure (the caller passes the sorted keys, the time and the epoch). A token holds the last key
returned, when it was issued and the server's epoch (a random id per start); like kube-apiserver,
whose tokens die when etcd compacts the revision they pin (every 5 minutes by default), a token
older than ``ttl`` or issued by an earlier start of the server is refused with 410 Gone, reason
``Expired``, and the client starts a new list. Unlike kube-apiserver, pages are read from the
current state, not a snapshot: an item created or deleted behind the cursor during the walk is
seen or not, as in an informer's relist.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from minikn.core.errors import InvalidInput, PermanentError

__all__ = [
    "DEFAULT_TTL_S",
    "MAX_LIMIT",
    "Expired",
    "Page",
    "decode_token",
    "encode_token",
    "page",
    "parse_limit",
]

DEFAULT_TTL_S = 300.0
"""How long a continue token stays valid (kube-apiserver's default etcd compaction interval)."""
MAX_LIMIT = 100_000
"""Largest ``limit`` accepted (a larger one is a client error, not a reason to buffer more)."""
_MAX_TOKEN = 2048
EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter."
)


class Expired(PermanentError):
    """A continue token from an earlier start or older than the TTL: 410 Gone, ``Expired``."""

    status = 410

    def __init__(self, message: str = EXPIRED_MESSAGE) -> None:
        super().__init__(message, reason="Expired")


@dataclass(frozen=True)
class Page:
    keys: list[str]
    """The keys of this page's items, in order."""
    continue_token: str | None
    """For the next page; None on the last one."""
    remaining: int | None
    """Items after this page (Kubernetes' ``remainingItemCount``); None on the last page."""


def encode_token(last: str, issued: float, epoch: str) -> str:
    raw = json.dumps({"v": 1, "start": last, "issued": issued, "epoch": epoch})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, float, str]:
    """(last key, issued, epoch) of a token; InvalidInput (400) when it is not one of ours."""
    bad = InvalidInput(f"continue key is not valid: {token[:60]!r}", reason="BadRequest")
    if len(token) > _MAX_TOKEN:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise bad from exc
    if not isinstance(data, dict) or data.get("v") != 1:
        raise bad
    start, issued, epoch = data.get("start"), data.get("issued"), data.get("epoch")
    if not isinstance(start, str) or not isinstance(epoch, str):
        raise bad
    if isinstance(issued, bool) or not isinstance(issued, int | float):
        raise bad
    return start, float(issued), epoch


def parse_limit(query: Mapping[str, str]) -> tuple[int | None, str | None]:
    """(limit, continue token) from a list request's query; ``limit`` 0 or absent = no limit."""
    raw_limit, token = query.get("limit"), query.get("continue") or None
    limit: int | None = None
    if raw_limit not in (None, ""):
        try:
            limit = int(str(raw_limit))
        except ValueError:
            raise InvalidInput(f"limit: {str(raw_limit)[:40]!r} is not an integer") from None
        if limit < 0 or limit > MAX_LIMIT:
            raise InvalidInput(f"limit: must be between 0 and {MAX_LIMIT}, got {limit}")
        limit = limit or None
    return limit, token


def page(
    keys: Sequence[str],
    *,
    limit: int | None,
    token: str | None,
    now: float,
    epoch: str,
    ttl: float = DEFAULT_TTL_S,
) -> Page:
    """The page of sorted ``keys`` that ``limit`` and ``token`` ask for.

    Worked example: keys a..e, limit 2: [a, b] + token(b), remaining 3; with token(b): [c, d] +
    token(d), remaining 1; with token(d): [e], no token.
    """
    start = 0
    if token is not None:
        last, issued, token_epoch = decode_token(token)
        if token_epoch != epoch or now - issued > ttl or issued > now + 1.0:
            raise Expired()
        start = bisect.bisect_right(keys, last)
    end = len(keys) if limit is None else min(len(keys), start + limit)
    chosen = list(keys[start:end])
    if end >= len(keys) or not chosen:
        return Page(chosen, None, None)
    return Page(chosen, encode_token(chosen[-1], now, epoch), len(keys) - end)
