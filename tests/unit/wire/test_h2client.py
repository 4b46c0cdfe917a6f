"""The activator's HTTP/2 client framer against a real ``h2`` server connection: what it sends
is valid HTTP/2 to h2, and it reads what h2 sends (padding, CONTINUATION, PING, settings,
windows); a broken peer is a protocol error with a GOAWAY queued."""

from __future__ import annotations

from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from minikn.wire.h2client import H2ClientCodec, H2ProtocolError

REQUEST = [
    (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/inference.X/Y"),
    (b":authority", b"x.default.example.com"), (b"te", b"trailers"),
    (b"content-type", b"application/grpc"),
]  # fmt: skip
WINDOW = 1 << 20


def _pair(
    server_settings: dict[int, int] | None = None,
) -> tuple[H2ClientCodec, h2.connection.H2Connection]:
    client = H2ClientCodec(WINDOW)
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    if server_settings:
        server.local_settings = h2.settings.Settings(client=False, initial_values=server_settings)
    server.initiate_connection()
    client.initiate()
    server.receive_data(client.data_to_send())
    client.receive(server.data_to_send())
    server.receive_data(client.data_to_send())  # the settings' acknowledgement
    return client, server


def _kinds(events: list[tuple[Any, ...]]) -> list[str]:
    return [e[0] for e in events if e[0] != "window"]


def test_a_call_round_trips_with_a_real_h2_server() -> None:
    client, server = _pair()
    stream_id = client.next_stream_id()
    client.send_headers(stream_id, REQUEST, end_stream=False)
    client.send_data(stream_id, b"\x00\x00\x00\x00\x02hi", end_stream=True)
    events = server.receive_data(client.data_to_send())
    [request] = [e for e in events if isinstance(e, h2.events.RequestReceived)]
    assert [(bytes(n), bytes(v)) for n, v in request.headers or ()] == REQUEST
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)
    server.send_headers(stream_id, [(b":status", b"200"), (b"content-type", b"application/grpc")])
    server.send_data(stream_id, b"\x00\x00\x00\x00\x02ok", pad_length=5)
    server.send_headers(stream_id, [(b"grpc-status", b"0")], end_stream=True)
    got = client.receive(server.data_to_send())
    assert _kinds(got) == ["headers", "data", "headers"]
    assert got[0][2] == [(b":status", b"200"), (b"content-type", b"application/grpc")]
    assert got[1][2:] == (b"\x00\x00\x00\x00\x02ok", 13, False)  # padding counts in the window
    assert got[2][2:] == ([(b"grpc-status", b"0")], True)


def test_a_header_block_past_one_frame_goes_in_continuation_frames_both_ways() -> None:
    client, server = _pair()
    big = [*REQUEST, (b"x-big", b"v" * 40_000)]
    stream_id = client.next_stream_id()
    client.send_headers(stream_id, big, end_stream=True)
    events = server.receive_data(client.data_to_send())
    [request] = [e for e in events if isinstance(e, h2.events.RequestReceived)]
    assert (b"x-big", b"v" * 40_000) in [(bytes(n), bytes(v)) for n, v in request.headers or ()]
    server.send_headers(stream_id, [(b":status", b"200"), (b"x-big", b"w" * 40_000)])
    sent = server.data_to_send()
    got = client.receive(sent[:100]) + client.receive(sent[100:])  # split reads too
    [(_, _, fields, ended)] = [e for e in got if e[0] == "headers"]
    assert (b"x-big", b"w" * 40_000) in fields
    assert not ended


def test_ping_is_answered_and_windows_are_given_back_once_per_half_window() -> None:
    client, server = _pair()
    server.ping(b"12345678")
    assert client.receive(server.data_to_send()) == []
    events = server.receive_data(client.data_to_send())
    assert any(isinstance(e, h2.events.PingAckReceived) for e in events)
    stream_id = client.next_stream_id()
    client.send_headers(stream_id, REQUEST, end_stream=True)
    server.receive_data(client.data_to_send())
    server.send_headers(stream_id, [(b":status", b"200")])
    chunk = b"x" * 16_000
    received = 0
    while received < WINDOW // 2 - len(chunk):
        server.send_data(stream_id, chunk)
        for event in client.receive(server.data_to_send()):
            if event[0] == "data":
                client.acknowledge(stream_id, event[3])
                received += event[3]
        assert client.data_to_send() == b""  # not a WINDOW_UPDATE per frame
    server.send_data(stream_id, chunk)
    client.acknowledge(stream_id, client.receive(server.data_to_send())[-1][3])
    events = server.receive_data(client.data_to_send())
    updated = {e.stream_id for e in events if isinstance(e, h2.events.WindowUpdated)}
    assert updated == {0, stream_id}


def test_the_peers_windows_bound_what_is_sent_and_updates_reopen_them() -> None:
    client, server = _pair({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 10})
    stream_id = client.next_stream_id()
    client.send_headers(stream_id, REQUEST, end_stream=False)
    assert client.window(stream_id) == 10
    client.send_data(stream_id, b"0123456789")
    assert client.window(stream_id) == 0
    events = server.receive_data(client.data_to_send())
    data = [e for e in events if isinstance(e, h2.events.DataReceived)]
    server.acknowledge_received_data(data[0].flow_controlled_length, stream_id)
    server.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    got = client.receive(server.data_to_send())
    assert any(e[0] == "window" for e in got)
    assert client.window(stream_id) > 10


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x",  # DATA on stream 0
        b"\x00\x50\x00\x00\x00\x00\x00\x00\x01",  # a frame past 16 KiB
        b"\x00\x00\x04\x05\x04\x00\x00\x00\x01\x00\x00\x00\x02",  # PUSH_PROMISE
        b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00",  # WINDOW_UPDATE of 0
        b"\x00\x00\x02\x01\x04\x00\x00\x00\x01\xff\xff",  # an undecodable header block
    ],
    ids=["data-on-0", "oversized", "push", "zero-window-update", "bad-hpack"],
)
def test_a_broken_peer_is_a_protocol_error_with_a_goaway(frame: bytes) -> None:
    client, _ = _pair()
    client.next_stream_id()
    with pytest.raises(H2ProtocolError):
        client.receive(frame)
    assert client.data_to_send()[3] == 7  # GOAWAY
