"""The cached HPACK coding: what it encodes decodes (with plain ``hpack``) to the same fields,
never touching the peer's dynamic table; what it decodes equals plain ``hpack``'s decoding,
including after the peer's table changes under a block seen before."""

from __future__ import annotations

import hpack
import pytest
from hpack.struct import NeverIndexedHeaderTuple

from minikn.wire.h2codec import CachingDecoder, StaticEncoder, encode_field

CALL = [
    (b":method", b"POST"),
    (b":scheme", b"http"),
    (b":path", b"/inference.GRPCInferenceService/ModelInfer"),
    (b":authority", b"hello.default.example.com"),
    (b"te", b"trailers"),
    (b"content-type", b"application/grpc"),
    (b"user-agent", b"grpc-python/1.85 " + b"x" * 200),  # a length past a 7-bit prefix
    (b"x-request-id", b"0123456789abcdef"),
]


def test_static_encoder_round_trips_and_leaves_the_peers_table_empty() -> None:
    encoder, peer = StaticEncoder(), hpack.Decoder()
    for _ in range(3):
        block = encoder.encode(CALL)
        assert peer.decode(block, raw=True) == CALL
    assert len(peer.header_table.dynamic_entries) == 0


def test_static_encoder_uses_static_indexes_and_keeps_never_indexed_flag() -> None:
    assert encode_field(b":status", b"200") == b"\x88"
    assert encode_field(b":method", b"POST") == b"\x83"
    block = StaticEncoder().encode([NeverIndexedHeaderTuple(b"traceparent", b"00-ab")])
    (field,) = hpack.Decoder().decode(block, raw=True)
    assert field == (b"traceparent", b"00-ab")
    assert not field.indexable


def test_static_encoder_signals_a_table_size_change_first() -> None:
    encoder, peer = StaticEncoder(), hpack.Decoder()
    encoder.header_table_size = 0
    block = encoder.encode([(b":status", b"200")])
    assert block[0] & 0xE0 == 0x20  # a dynamic table size update
    assert peer.decode(block, raw=True) == [(b":status", b"200")]
    assert peer.header_table_size == 0
    assert encoder.encode([(b":status", b"200")]) == b"\x88"


def test_caching_decoder_matches_plain_hpack_on_repeated_indexed_blocks() -> None:
    sender, plain, cached = hpack.Encoder(), hpack.Decoder(), CachingDecoder()
    for _ in range(4):  # first call literal-indexed, then the same few indexed bytes
        block = sender.encode(CALL)
        assert cached.decode(block, raw=True) == plain.decode(block, raw=True) == CALL


def test_caching_decoder_does_not_reuse_a_block_after_the_table_changed() -> None:
    sender, plain, cached = hpack.Encoder(), hpack.Decoder(), CachingDecoder()
    first = [(b"grpc-status", b"0"), (b"grpc-message", b"")]

    def both(block: bytes) -> list[tuple[bytes, bytes]]:
        expected = plain.decode(block, raw=True)
        assert cached.decode(block, raw=True) == expected
        return list(expected)

    both(sender.encode(first))
    indexed = sender.encode(first)
    assert both(indexed) == first
    # The peer adds a field: the same indexes now name other entries.
    both(sender.encode([(b"x-other", b"1")]))
    assert both(indexed) == [(b"grpc-message", b""), (b"x-other", b"1")]


def test_caching_decoder_still_enforces_a_lowered_header_list_limit() -> None:
    sender, cached = hpack.Encoder(), CachingDecoder()
    cached.decode(sender.encode(CALL), raw=True)
    block = sender.encode(CALL)
    cached.decode(block, raw=True)
    cached.max_header_list_size = 64
    with pytest.raises(hpack.OversizedHeaderListError):
        cached.decode(block, raw=True)
