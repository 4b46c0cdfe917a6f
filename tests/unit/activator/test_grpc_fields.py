"""A gRPC call's metadata lines become the replica's h2 fields, the same whether a line was seen
before (remembered) or not."""

from __future__ import annotations

from minikn.activator.activator import _grpc_fields

BLOCK = (
    b"User-Agent: grpc-python/1.0\r\nx-request-id: %b\r\nTE: trailers\r\nhost: h\r\n"
    b"grpc-timeout: 5S\r\ncontent-length: 3\r\nX-Custom:  v \r\nno colon\r\n"
)


def test_lines_repeated_call_after_call_give_the_same_fields_as_the_first_time() -> None:
    expected = [(b"user-agent", b"grpc-python/1.0"), (b"x-request-id", b"a"), (b"x-custom", b"v")]
    assert _grpc_fields(BLOCK % b"a") == expected
    assert _grpc_fields(BLOCK % b"a") == expected


def test_a_per_call_line_takes_its_value_from_each_call() -> None:
    first = _grpc_fields(BLOCK % b"one")
    second = _grpc_fields(BLOCK % b"two")
    assert (b"x-request-id", b"one") in first
    assert (b"x-request-id", b"two") in second


def test_a_long_line_is_parsed_every_time() -> None:
    value = b"v" * 1000
    assert _grpc_fields(b"x-long: %b\r\n" % value) == [(b"x-long", value)]
    assert _grpc_fields(b"x-long: %b\r\n" % value) == [(b"x-long", value)]
