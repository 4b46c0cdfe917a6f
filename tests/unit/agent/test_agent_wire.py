"""Response-head parsing of the lean CloudEvents client (pure)."""

from __future__ import annotations

import pytest

from minikn.activator.agent.wire import RawHttpSender, parse_head


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", (202, 0, False, True)),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n", (200, 12, False, True)),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", (200, None, True, True)),
        (b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n", (500, None, False, False)),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", (200, 2, False, False)),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
            (200, 2, False, True),
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", (204, 0, False, True)),
    ],
)
def test_parse_head_reads_status_and_framing(
    head: bytes, expected: tuple[int, int | None, bool, bool]
) -> None:
    assert parse_head(head) == expected


@pytest.mark.parametrize("head", [b"garbage\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"SIP/2.0 200\r\n"])
def test_parse_head_rejects_malformed_status_lines(head: bytes) -> None:
    with pytest.raises(ValueError, match="bad status line"):
        parse_head(head)


@pytest.mark.parametrize("url", ["https://sink", "ftp://sink", "http://"])
def test_raw_sender_takes_only_plain_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="http://"):
        RawHttpSender(url)
