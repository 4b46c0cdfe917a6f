"""The ingress's HTTP/2 server framer against a malformed peer: raw frames in (packed here, header
blocks coded by ``hpack``), and the GOAWAY or RST_STREAM and its error code out (read back with
``hyperframe``), one test per rule of RFC 9113 a server facing an untrusted client enforces; then
what it sends (settings, windows, header blocks split at the client's frame size), against a real
``h2`` client; and random frame sequences, which end in events or a GOAWAY, never in another
exception."""

from __future__ import annotations

import struct
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from minikn.wire.h2frames import H2ProtocolError
from minikn.wire.h2server import H2ServerCodec

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED = 0x0, 0x1, 0x3, 0x5
FRAME_SIZE_ERROR, COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x6, 0x9, 0xB

REQUEST = [
    (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/inference.X/Y"),
    (b":authority", b"x.default.example.com"), (b"te", b"trailers"),
    (b"content-type", b"application/grpc"),
]  # fmt: skip
STREAM_WINDOW = 65_535
CONNECTION_WINDOW = 1 << 20
MAX_HEADER_LIST = 8192


def raw(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame as bytes, malformed or not (nothing is checked)."""
    head = struct.pack(">I", len(payload))[1:] + bytes((kind, flags))
    return head + struct.pack(">I", stream_id) + payload


def block(fields: list[tuple[bytes, bytes]] = REQUEST) -> bytes:
    return bytes(hpack.Encoder().encode(fields))


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def setting(key: int, value: int) -> bytes:
    return struct.pack(">HI", key, value)


def frames_out(codec: H2ServerCodec) -> list[Frame]:
    data, out, pos = codec.data_to_send(), [], 0
    while pos < len(data):
        frame, length = Frame.parse_frame_header(memoryview(data[pos : pos + 9]))
        frame.parse_body(memoryview(data[pos + 9 : pos + 9 + length]))
        out.append(frame)
        pos += 9 + length
    return out


def codec(**limits: int) -> H2ServerCodec:
    """A server framer after the client's preface and SETTINGS (its output drained)."""
    values = {
        "max_concurrent_streams": 4,
        "max_header_list_size": MAX_HEADER_LIST,
        "stream_window": STREAM_WINDOW,
        "connection_window": CONNECTION_WINDOW,
    }
    values.update(limits)
    server = H2ServerCodec(**values)
    server.initiate()
    assert server.receive(PREFACE + raw(SETTINGS, 0, 0)) == [("window", 0)]
    frames_out(server)
    return server


def goaway(server: H2ServerCodec, *data: bytes) -> int:
    """Feed ``data``; the connection error's GOAWAY code (the frames before it are taken)."""
    with pytest.raises(H2ProtocolError) as caught:
        server.receive(b"".join(data))
    [last] = [f for f in frames_out(server) if isinstance(f, GoAwayFrame)]
    assert last.error_code == caught.value.code
    assert server.closed
    assert server.receive(raw(PING, 0, 0, bytes(8))) == []
    return int(last.error_code)


def resets(server: H2ServerCodec) -> list[tuple[int, int]]:
    return [
        (f.stream_id, f.error_code) for f in frames_out(server) if isinstance(f, RstStreamFrame)
    ]


def request(stream_id: int = 1, *, end_stream: bool = False, fields: Any = REQUEST) -> bytes:
    return raw(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream_id, block(fields))


# The connection's start --------------------------------------------------------------------------


def test_minikns_settings_and_connection_window_go_out_first() -> None:
    server = H2ServerCodec(
        max_concurrent_streams=7, max_header_list_size=MAX_HEADER_LIST,
        stream_window=1 << 20, connection_window=16 << 20, max_frame_size=32_768,
    )  # fmt: skip
    server.initiate()
    first, grow = frames_out(server)
    assert isinstance(first, SettingsFrame)
    assert isinstance(grow, WindowUpdateFrame)
    assert first.settings == {
        SettingsFrame.MAX_CONCURRENT_STREAMS: 7, SettingsFrame.MAX_HEADER_LIST_SIZE: 8192,
        SettingsFrame.INITIAL_WINDOW_SIZE: 1 << 20, SettingsFrame.MAX_FRAME_SIZE: 32_768,
        SettingsFrame.ENABLE_PUSH: 0,
    }  # fmt: skip
    assert grow.stream_id == 0
    assert grow.window_increment == (16 << 20) - 65_535


def test_a_wrong_preface_is_a_protocol_error() -> None:
    server = H2ServerCodec(
        max_concurrent_streams=1, max_header_list_size=1024, stream_window=65_535,
        connection_window=65_535,
    )  # fmt: skip
    server.receive(PREFACE[:10])  # a preface may come in pieces
    assert goaway(server, b"GET / HTTP/1.1\r\n\r\n") == PROTOCOL_ERROR


def test_a_first_frame_other_than_settings_is_a_protocol_error() -> None:
    server = H2ServerCodec(
        max_concurrent_streams=1, max_header_list_size=1024, stream_window=65_535,
        connection_window=65_535,
    )  # fmt: skip
    assert goaway(server, PREFACE + raw(PING, 0, 0, bytes(8))) == PROTOCOL_ERROR
    server = H2ServerCodec(
        max_concurrent_streams=1, max_header_list_size=1024, stream_window=65_535,
        connection_window=65_535,
    )  # fmt: skip
    assert goaway(server, PREFACE + raw(SETTINGS, ACK, 0)) == PROTOCOL_ERROR


def test_the_clients_settings_are_acknowledged() -> None:
    server = codec()
    assert server.receive(raw(SETTINGS, 0, 0, setting(SettingsFrame.MAX_FRAME_SIZE, 20_000)))
    [ack] = frames_out(server)
    assert isinstance(ack, SettingsFrame)
    assert "ACK" in ack.flags
    assert server.peer_frame_size == 20_000
    assert server.receive(raw(SETTINGS, ACK, 0)) == []  # ours acknowledged: nothing to do
    assert frames_out(server) == []


# Frame sizes and stream ids ----------------------------------------------------------------------


def test_a_frame_over_minikns_max_frame_size_is_a_frame_size_error_from_its_header() -> None:
    server = codec()
    assert goaway(server, raw(DATA, 0, 1, bytes(16_385))[:9]) == FRAME_SIZE_ERROR


def test_our_larger_max_frame_size_is_in_force_from_the_first_frame() -> None:
    server = codec(max_frame_size=32_768)
    server.receive(request(1))
    [event] = server.receive(raw(DATA, 0, 1, bytes(20_000)))
    assert event[:2] == ("data", 1)
    assert len(event[2]) == 20_000


def test_an_even_stream_id_is_a_protocol_error() -> None:
    assert goaway(codec(), request(2)) == PROTOCOL_ERROR


def test_a_stream_id_not_above_the_last_is_a_protocol_error() -> None:
    server = codec()
    server.receive(request(5))
    assert goaway(server, request(3)) == PROTOCOL_ERROR


def test_frames_on_idle_streams_are_protocol_errors() -> None:
    for frame in (
        raw(DATA, 0, 1, b"x"),
        raw(WINDOW_UPDATE, 0, 3, u32(1)),
        raw(RST_STREAM, 0, 1, u32(0)),
        raw(DATA, 0, 2, b"x"),
    ):
        assert goaway(codec(), frame) == PROTOCOL_ERROR
    server = codec()  # PRIORITY is allowed on an idle stream, and opens nothing
    assert server.receive(raw(PRIORITY, 0, 9, u32(1) + b"\x10")) == []
    assert server.receive(request(1))[0][0] == "request"


def test_too_many_concurrent_streams_is_a_protocol_error() -> None:
    server = codec(max_concurrent_streams=2)
    server.receive(request(1) + request(3))
    assert goaway(server, request(5)) == PROTOCOL_ERROR
    server = codec(max_concurrent_streams=2)  # a stream over both ways frees its place
    server.receive(request(1, end_stream=True) + request(3))
    assert server.send_headers(1, [(b":status", b"200")], end_stream=True)
    assert server.receive(request(5))[0][:2] == ("request", 5)


# Stream states -----------------------------------------------------------------------------------


def test_data_or_headers_on_a_half_closed_stream_reset_it_stream_closed() -> None:
    server = codec()
    server.receive(request(1, end_stream=True) + request(3, end_stream=True))
    assert server.receive(raw(DATA, 0, 1, b"late")) == [("reset", 1, STREAM_CLOSED)]
    assert resets(server) == [(1, STREAM_CLOSED)]
    assert server.receive(request(3, end_stream=True)) == [("reset", 3, STREAM_CLOSED)]
    assert resets(server) == [(3, STREAM_CLOSED)]
    assert server.window(1) == server.window(3) == 0


def test_data_on_a_stream_ended_both_ways_is_a_stream_closed_connection_error() -> None:
    server = codec()
    server.receive(request(1, end_stream=True))
    assert server.send_headers(1, [(b":status", b"200")], end_stream=True)
    frames_out(server)
    assert goaway(server, raw(DATA, 0, 1, b"late")) == STREAM_CLOSED


def test_headers_on_a_stream_ended_both_ways_is_a_stream_closed_connection_error() -> None:
    server = codec()
    server.receive(request(1, end_stream=True))
    server.send_headers(1, [(b":status", b"200")], end_stream=True)
    frames_out(server)
    assert goaway(server, request(1)) == STREAM_CLOSED


def test_frames_after_minikn_reset_a_stream_are_ignored_and_their_window_given_back() -> None:
    server = codec(connection_window=65_535)
    server.receive(request(1))
    server.reset(1, NO_ERROR)
    assert resets(server) == [(1, NO_ERROR)]
    for _ in range(4):  # all of the connection's window, twice over: it comes back
        assert server.receive(raw(DATA, 0, 1, bytes(16_000))) == []
    assert server.receive(request(1, end_stream=True) + raw(WINDOW_UPDATE, 0, 1, u32(5))) == []
    assert server.receive(raw(RST_STREAM, 0, 1, u32(0))) == []
    updates = [f for f in frames_out(server) if isinstance(f, WindowUpdateFrame)]
    assert updates
    assert all(u.stream_id == 0 for u in updates)


def test_data_after_the_client_reset_a_stream_is_answered_stream_closed() -> None:
    server = codec()
    server.receive(request(1))
    assert server.receive(raw(RST_STREAM, 0, 1, u32(8))) == [("reset", 1, 8)]
    assert server.receive(raw(DATA, 0, 1, b"x")) == []
    assert resets(server) == [(1, STREAM_CLOSED)]
    assert not server.send_headers(1, [(b":status", b"200")], end_stream=True)


def test_trailers_end_the_stream_and_must_carry_end_stream() -> None:
    server = codec()
    server.receive(request(1))
    trailers = raw(HEADERS, END_HEADERS | END_STREAM, 1, block([(b"x-t", b"1")]))
    assert server.receive(trailers) == [("trailers", 1, [(b"x-t", b"1")])]
    server = codec()
    server.receive(request(1))
    assert goaway(server, raw(HEADERS, END_HEADERS, 1, block([(b"x-t", b"1")]))) == PROTOCOL_ERROR


# Header blocks -----------------------------------------------------------------------------------


def test_a_header_block_in_continuation_frames_is_one_request() -> None:
    server = codec()
    whole = block()
    events = server.receive(
        raw(HEADERS, END_STREAM, 1, whole[:5])
        + raw(CONTINUATION, 0, 1, whole[5:12])
        + raw(CONTINUATION, END_HEADERS, 1, whole[12:])
    )
    assert events == [("request", 1, REQUEST, True)]


def test_any_other_frame_inside_a_header_block_is_a_protocol_error() -> None:
    start = raw(HEADERS, 0, 1, block()[:5])
    assert goaway(codec(), start + raw(PING, 0, 0, bytes(8))) == PROTOCOL_ERROR
    assert goaway(codec(), start + raw(CONTINUATION, END_HEADERS, 3, b"")) == PROTOCOL_ERROR
    assert goaway(codec(), start + raw(0xFA, 0, 0, b"ext")) == PROTOCOL_ERROR
    assert goaway(codec(), raw(CONTINUATION, END_HEADERS, 1, block())) == PROTOCOL_ERROR


def test_a_header_block_over_the_header_list_size_is_enhance_your_calm() -> None:
    server = codec()
    frames = [raw(HEADERS, 0, 1, block())]
    frames += [raw(CONTINUATION, 0, 1, bytes(4000)) for _ in range(3)]
    assert goaway(server, *frames) == ENHANCE_YOUR_CALM
    big = [*REQUEST, (b"x-big", b"v" * MAX_HEADER_LIST)]  # one frame, decoded over the limit
    assert goaway(codec(max_frame_size=32_768), request(1, fields=big)) == ENHANCE_YOUR_CALM


def test_too_many_continuation_frames_is_a_protocol_error() -> None:
    frames = [raw(HEADERS, 0, 1, b"")] + [raw(CONTINUATION, 0, 1, b"") for _ in range(64)]
    assert goaway(codec(), *frames) == PROTOCOL_ERROR


def test_an_undecodable_header_block_is_a_compression_error() -> None:
    assert goaway(codec(), raw(HEADERS, END_HEADERS, 1, b"\xff\xff\xff\xff")) == COMPRESSION_ERROR
    assert goaway(codec(), raw(HEADERS, END_HEADERS, 1, b"\xbf")) == COMPRESSION_ERROR


# Padding and priority ----------------------------------------------------------------------------


def test_padding_is_stripped_and_counted_against_the_window() -> None:
    server = codec()
    padded = raw(HEADERS, END_HEADERS | PADDED, 1, b"\x03" + block() + b"\0\0\0")
    assert server.receive(padded)[0] == ("request", 1, REQUEST, False)
    data = raw(DATA, PADDED | END_STREAM, 1, b"\x04abc\0\0\0\0")
    assert server.receive(data) == [("data", 1, b"abc", 8, True)]


def test_padding_longer_than_the_frame_is_a_protocol_error() -> None:
    server = codec()
    server.receive(request(1))
    assert goaway(server, raw(DATA, PADDED, 1, b"\x04abc")) == PROTOCOL_ERROR
    headers = raw(HEADERS, END_HEADERS | PADDED, 1, b"\x09" + block()[:8])
    assert goaway(codec(), headers) == PROTOCOL_ERROR
    assert goaway(codec(), request(1) + raw(DATA, PADDED, 1, b"")) == FRAME_SIZE_ERROR


def test_priority_frames_are_checked_and_otherwise_ignored() -> None:
    server = codec()
    assert server.receive(raw(PRIORITY, 0, 1, u32(0) + b"\x0f")) == []
    assert goaway(codec(), raw(PRIORITY, 0, 1, u32(0))) == FRAME_SIZE_ERROR
    assert goaway(codec(), raw(PRIORITY, 0, 0, u32(1) + b"\x0f")) == PROTOCOL_ERROR
    assert goaway(codec(), raw(PRIORITY, 0, 3, u32(3) + b"\x0f")) == PROTOCOL_ERROR


def test_the_priority_flag_on_headers() -> None:
    server = codec()
    fields = u32(0x80000000) + b"\x10"  # exclusive on stream 0
    events = server.receive(raw(HEADERS, END_HEADERS | PRIORITY_FLAG, 1, fields + block()))
    assert events == [("request", 1, REQUEST, False)]
    looped = raw(HEADERS, END_HEADERS | PRIORITY_FLAG, 3, u32(3) + b"\x10" + block())
    assert goaway(codec(), looped) == PROTOCOL_ERROR
    short = raw(HEADERS, END_HEADERS | PRIORITY_FLAG, 1, b"\0\0")
    assert goaway(codec(), short) == FRAME_SIZE_ERROR


# RST_STREAM, PING, GOAWAY, PUSH_PROMISE, unknown types -------------------------------------------


def test_malformed_rst_stream() -> None:
    assert goaway(codec(), raw(RST_STREAM, 0, 0, u32(0))) == PROTOCOL_ERROR
    assert goaway(codec(), request(1) + raw(RST_STREAM, 0, 1, b"\0\0\0")) == FRAME_SIZE_ERROR


def test_ping_is_answered_and_malformed_ping_refused() -> None:
    server = codec()
    assert server.receive(raw(PING, 0, 0, b"12345678") + raw(PING, ACK, 0, bytes(8))) == []
    [pong] = frames_out(server)
    assert isinstance(pong, PingFrame)
    assert "ACK" in pong.flags
    assert pong.opaque_data == b"12345678"
    assert goaway(codec(), raw(PING, 0, 0, bytes(7))) == FRAME_SIZE_ERROR
    assert goaway(codec(), raw(PING, 0, 1, bytes(8))) == PROTOCOL_ERROR


def test_goaway_from_the_client_is_reported() -> None:
    server = codec()
    assert server.receive(raw(GOAWAY, 0, 0, u32(7) + u32(0) + b"bye")) == [("goaway", 7, 0)]
    assert goaway(codec(), raw(GOAWAY, 0, 0, u32(0))) == FRAME_SIZE_ERROR
    assert goaway(codec(), raw(GOAWAY, 0, 1, u32(0) + u32(0))) == PROTOCOL_ERROR


def test_push_promise_from_a_client_is_a_protocol_error() -> None:
    server = codec()
    server.receive(request(1))
    assert goaway(server, raw(PUSH_PROMISE, END_HEADERS, 1, u32(2) + block())) == PROTOCOL_ERROR


def test_unknown_frame_types_are_ignored() -> None:
    server = codec()
    assert server.receive(raw(0xFA, 0xFF, 0, b"ext") + raw(0x10, 0, 7, b"")) == []
    assert server.receive(request(1))[0][0] == "request"


# Flow control ------------------------------------------------------------------------------------


def test_window_update_of_zero() -> None:
    assert goaway(codec(), raw(WINDOW_UPDATE, 0, 0, u32(0))) == PROTOCOL_ERROR
    server = codec()
    server.receive(request(1))
    assert server.receive(raw(WINDOW_UPDATE, 0, 1, u32(0))) == [("reset", 1, PROTOCOL_ERROR)]
    assert resets(server) == [(1, PROTOCOL_ERROR)]
    assert goaway(codec(), raw(WINDOW_UPDATE, 0, 0, b"\0\0\1")) == FRAME_SIZE_ERROR


def test_window_update_past_the_largest_window() -> None:
    assert goaway(codec(), raw(WINDOW_UPDATE, 0, 0, u32(2**31 - 1))) == FLOW_CONTROL_ERROR
    server = codec()
    server.receive(request(1))
    assert server.receive(raw(WINDOW_UPDATE, 0, 1, u32(2**31 - 1))) == [
        ("reset", 1, FLOW_CONTROL_ERROR)
    ]


def test_window_updates_open_the_send_window() -> None:
    server = codec()
    server.receive(request(1))
    assert server.window(1) == 65_535
    server.send_data(1, bytes(65_535))
    assert server.window(1) == 0
    assert server.receive(raw(WINDOW_UPDATE, 0, 1, u32(100))) == [("window", 1)]
    assert server.window(1) == 0  # the connection's window is still spent
    assert server.receive(raw(WINDOW_UPDATE, 0, 0, u32(50))) == [("window", 0)]
    assert server.window(1) == 50


def test_data_beyond_the_stream_window_is_a_flow_control_error() -> None:
    server = codec()
    server.receive(request(1))
    for _ in range(4):
        server.receive(raw(DATA, 0, 1, bytes(16_000)))
    assert goaway(server, raw(DATA, 0, 1, bytes(2_000))) == FLOW_CONTROL_ERROR


def test_data_beyond_the_connection_window_is_a_flow_control_error() -> None:
    server = codec(stream_window=1 << 20, connection_window=65_535)
    server.receive(request(1) + request(3))
    for stream_id in (1, 3, 1, 3):
        server.receive(raw(DATA, 0, stream_id, bytes(16_000)))
    assert goaway(server, raw(DATA, 0, 3, bytes(2_000))) == FLOW_CONTROL_ERROR


def test_acknowledged_data_is_given_back_per_half_window() -> None:
    server = codec()
    server.receive(request(1))
    for _ in range(3):
        [(_, _, _, size, _)] = server.receive(raw(DATA, 0, 1, bytes(16_000)))
        server.acknowledge(1, size)
    [update] = frames_out(server)  # half the stream's 65,535 passed at 48,000: one update
    assert update.stream_id == 1
    assert update.window_increment == 48_000
    for _ in range(4):  # 64,000 more: within the window given back
        server.receive(raw(DATA, 0, 1, bytes(16_000)))


# The client's SETTINGS ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (setting(SettingsFrame.ENABLE_PUSH, 2), PROTOCOL_ERROR),
        (setting(SettingsFrame.INITIAL_WINDOW_SIZE, 2**31), FLOW_CONTROL_ERROR),
        (setting(SettingsFrame.MAX_FRAME_SIZE, 16_383), PROTOCOL_ERROR),
        (setting(SettingsFrame.MAX_FRAME_SIZE, 2**24), PROTOCOL_ERROR),
        (setting(SettingsFrame.ENABLE_CONNECT_PROTOCOL, 2), PROTOCOL_ERROR),
        (b"\0\4\0\0\0", FRAME_SIZE_ERROR),
    ],
)
def test_malformed_settings(payload: bytes, code: int) -> None:
    assert goaway(codec(), raw(SETTINGS, 0, 0, payload)) == code


def test_a_settings_ack_with_a_payload_or_settings_on_a_stream() -> None:
    assert goaway(codec(), raw(SETTINGS, ACK, 0, setting(1, 0))) == FRAME_SIZE_ERROR
    assert goaway(codec(), raw(SETTINGS, 0, 1)) == PROTOCOL_ERROR


def test_a_new_initial_window_size_moves_open_streams_send_windows() -> None:
    server = codec()
    server.receive(request(1))
    server.send_data(1, bytes(1000))
    server.receive(raw(SETTINGS, 0, 0, setting(SettingsFrame.INITIAL_WINDOW_SIZE, 10_000)))
    assert server.window(1) == 9_000
    server.receive(raw(SETTINGS, 0, 0, setting(SettingsFrame.INITIAL_WINDOW_SIZE, 500)))
    assert server.window(1) == 0  # negative (-500) until the client opens it
    server.receive(raw(WINDOW_UPDATE, 0, 1, u32(600)))
    assert server.window(1) == 100
    server.receive(raw(WINDOW_UPDATE, 0, 1, u32(2**31 - 1 - 100)))
    raised = raw(SETTINGS, 0, 0, setting(SettingsFrame.INITIAL_WINDOW_SIZE, 1_000))
    assert goaway(server, raised) == FLOW_CONTROL_ERROR


# content-length ----------------------------------------------------------------------------------


def _with_length(value: bytes) -> list[tuple[bytes, bytes]]:
    return [*REQUEST, (b"content-length", value)]


def test_content_length_against_the_data_is_a_stream_protocol_error() -> None:
    server = codec()
    server.receive(request(1, fields=_with_length(b"3")))
    assert server.receive(raw(DATA, 0, 1, b"abcd")) == [("reset", 1, PROTOCOL_ERROR)]
    server.receive(request(3, fields=_with_length(b"3")))
    server.receive(raw(DATA, 0, 3, b"ab"))
    assert server.receive(raw(DATA, END_STREAM, 3, b"")) == [("reset", 3, PROTOCOL_ERROR)]
    # Reset before it is served (the event says the stream is over; nothing served it).
    events = server.receive(request(5, end_stream=True, fields=_with_length(b"3")))
    assert events == [("reset", 5, PROTOCOL_ERROR)]
    events = server.receive(request(7, fields=_with_length(b"x1")))
    assert events == [("reset", 7, PROTOCOL_ERROR)]
    assert resets(server) == [(1, PROTOCOL_ERROR), (3, PROTOCOL_ERROR), (5, PROTOCOL_ERROR),
                              (7, PROTOCOL_ERROR)]  # fmt: skip
    server.receive(request(9, fields=_with_length(b"3")))
    assert server.receive(raw(DATA, END_STREAM, 9, b"abc")) == [("data", 9, b"abc", 3, True)]


# What goes out, read by a real h2 client ---------------------------------------------------------


def test_a_response_read_by_h2_large_head_split_and_trailers_end_the_stream() -> None:
    client = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    client.initiate_connection()
    client.update_settings({h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 20})
    server = H2ServerCodec(
        max_concurrent_streams=4, max_header_list_size=MAX_HEADER_LIST, stream_window=1 << 20,
        connection_window=1 << 20,
    )  # fmt: skip
    server.initiate()
    client.send_headers(1, REQUEST, end_stream=True)
    events = server.receive(client.data_to_send())
    assert ("request", 1, REQUEST, True) in events
    head = [(b":status", b"200"), (b"x-big", b"v" * 40_000)]
    assert server.send_headers(1, head, end_stream=False)
    kinds = [type(f) for f in frames_out_peek(server)]
    assert kinds.count(ContinuationFrame) == 2
    assert kinds[0] is SettingsFrame
    server.send_data(1, b"hello")
    server.send_headers(1, [(b"grpc-status", b"0")], end_stream=True)
    got = client.receive_data(server.data_to_send())
    [response] = [e for e in got if isinstance(e, h2.events.ResponseReceived)]
    assert response.headers == head
    [data] = [e for e in got if isinstance(e, h2.events.DataReceived)]
    assert data.data == b"hello"
    [trailers] = [e for e in got if isinstance(e, h2.events.TrailersReceived)]
    assert trailers.headers == [(b"grpc-status", b"0")]
    assert any(isinstance(e, h2.events.StreamEnded) for e in got)
    assert not server.send_data(1, b"more")  # over both ways
    server.close()
    [event] = client.receive_data(server.data_to_send())
    assert isinstance(event, h2.events.ConnectionTerminated)
    assert event.last_stream_id == 1


def frames_out_peek(server: H2ServerCodec) -> list[Frame]:
    """The frames queued, left queued."""
    queued = list(server._out)
    frames = frames_out(server)
    server._out[:] = queued
    return frames


def test_data_is_framed_at_the_clients_frame_size_by_the_caller_and_headers_by_the_framer() -> None:
    server = codec()
    server.receive(raw(SETTINGS, 0, 0, setting(SettingsFrame.MAX_FRAME_SIZE, 16_384)))
    server.receive(request(1, end_stream=True))
    frames_out(server)
    assert server.window(1) == 65_535
    assert server.peer_frame_size == 16_384
    server.send_headers(1, [(b":status", b"200"), (b"x", b"y" * 20_000)], end_stream=False)
    headers, continuation = frames_out(server)
    assert isinstance(headers, HeadersFrame)
    assert "END_HEADERS" not in headers.flags
    assert isinstance(continuation, ContinuationFrame)
    assert "END_HEADERS" in continuation.flags
    server.send_data(1, b"x", end_stream=True)
    [data] = frames_out(server)
    assert isinstance(data, DataFrame)
    assert "END_STREAM" in data.flags


# Random input ------------------------------------------------------------------------------------

_FRAMES = st.builds(
    raw,
    st.integers(0, 12),
    st.integers(0, 255),
    st.sampled_from([0, 1, 2, 3, 5, 7, 2**31 - 1]),
    st.one_of(
        st.binary(max_size=40),
        st.just(block()),
        st.builds(u32, st.integers(0, 2**32 - 1)),
        st.builds(setting, st.integers(0, 9), st.integers(0, 2**32 - 1)),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAMES, max_size=12), st.integers(1, 50))
def test_random_frames_end_in_events_or_a_goaway_never_another_exception(
    frames: list[bytes], cut: int
) -> None:
    server = codec()
    stream = b"".join(frames)
    try:
        for start in range(0, len(stream), cut):
            server.receive(stream[start : start + cut])
            for stream_id in (1, 3, 5):
                server.send_data(stream_id, b"x", end_stream=False)
                server.acknowledge(stream_id, 1)
    except H2ProtocolError:
        out = frames_out(server)
        assert isinstance(out[-1], GoAwayFrame)
        assert server.closed
        return
    frames_out(server)  # what it sends parses as frames
