"""A minimal HTTP/2 client framer (sans I/O) for the activator's h2c connections to replicas.

What a gRPC proxy's upstream side needs and nothing more (RFC 9113): the preface and settings,
HEADERS (+CONTINUATION) and DATA out, every frame type in, both directions' flow control, PING
answered, SETTINGS acknowledged, GOAWAY and RST_STREAM reported. Headers are coded with
:mod:`minikn.wire.h2codec`. It does per frame what the ``h2`` library does with a state machine,
event objects and frame objects per frame, at a fraction of the CPU (a gRPC call is five frames
on this side; the ingress keeps ``h2``, which checks what hostile clients send).

:meth:`H2ClientCodec.receive` returns events as tuples, ``(kind, stream_id, ...)``:

- ``("headers", id, fields, end_stream)`` a complete header block (a head, or trailers);
- ``("data", id, data, flow_controlled_length, end_stream)``;
- ``("reset", id, error_code)``; ``("goaway", last_stream_id, error_code)``;
- ``("window", 0)`` the peer's windows or settings changed (senders may have room now).

A violation of the protocol raises :class:`H2ProtocolError` (after queueing a GOAWAY).
"""

from __future__ import annotations

from typing import Any

from minikn.wire.h2codec import CachingDecoder, StaticEncoder

__all__ = ["PREFACE", "H2ClientCodec", "H2ProtocolError"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

PROTOCOL_ERROR, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, COMPRESSION_ERROR = 0x1, 0x3, 0x6, 0x9
_MAX_WINDOW = 2**31 - 1
_DEFAULT_FRAME = 16_384
_FRAME = _DEFAULT_FRAME
"""The largest frame minikn takes (the protocol's default, never raised)."""


class H2ProtocolError(Exception):
    """The peer broke HTTP/2: the connection is over (a GOAWAY is queued)."""


def _frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes((kind, flags))
        + stream_id.to_bytes(4, "big")
        + payload
    )


class _Stream:
    __slots__ = ("recv_window", "send_window", "unacked")

    def __init__(self, send_window: int, recv_window: int) -> None:
        self.send_window = send_window
        self.recv_window = recv_window
        self.unacked = 0


class H2ClientCodec:
    """One client connection's HTTP/2 framing and flow control."""

    def __init__(self, window: int, max_header_list_size: int = 65_536) -> None:
        self._window = window
        self.encoder = StaticEncoder()
        self.decoder = CachingDecoder(max_header_list_size)
        self._out: list[bytes] = []
        self._in = b""
        self._streams: dict[int, _Stream] = {}
        self._next_id = 1
        self.peer_max_streams = _MAX_WINDOW
        self.peer_frame_size = _DEFAULT_FRAME
        self._peer_initial_window = 65_535
        self.send_window = 65_535
        """The connection's send window (the peer's receive window)."""
        self._recv_window = 65_535
        self._unacked = 0
        self._continuing: tuple[int, bool, list[bytes]] | None = None
        self.closed = False

    # Out -----------------------------------------------------------------------------------------

    def initiate(self) -> None:
        """The preface, minikn's settings (no push; ``window`` per stream) and the connection's
        window raised to ``window``."""
        settings = (2).to_bytes(2, "big") + (0).to_bytes(4, "big")  # ENABLE_PUSH 0
        settings += (4).to_bytes(2, "big") + self._window.to_bytes(4, "big")  # INITIAL_WINDOW
        self._out.append(PREFACE + _frame(SETTINGS, 0, 0, settings))
        if self._window > 65_535:
            grow = self._window - 65_535
            self._out.append(_frame(WINDOW_UPDATE, 0, 0, grow.to_bytes(4, "big")))
            self._recv_window += grow

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def next_stream_id(self) -> int:
        """Open a stream: its id (None of the frames go out until ``send_headers``)."""
        stream_id = self._next_id
        if stream_id > _MAX_WINDOW:
            raise H2ProtocolError("stream ids exhausted")
        self._next_id += 2
        self._streams[stream_id] = _Stream(self._peer_initial_window, self._window)
        return stream_id

    def send_headers(self, stream_id: int, headers: Any, *, end_stream: bool) -> None:
        block = self.encoder.encode(headers)
        size = self.peer_frame_size
        flags = END_STREAM if end_stream else 0
        if len(block) <= size:
            self._out.append(_frame(HEADERS, flags | END_HEADERS, stream_id, block))
            return
        self._out.append(_frame(HEADERS, flags, stream_id, block[:size]))
        for start in range(size, len(block), size):
            last = start + size >= len(block)
            piece = block[start : start + size]
            self._out.append(_frame(CONTINUATION, END_HEADERS if last else 0, stream_id, piece))

    def window(self, stream_id: int) -> int:
        """How many DATA bytes ``stream_id`` may send now."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return 0
        return max(0, min(stream.send_window, self.send_window))

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """``data`` within the windows (``window``) and at most ``peer_frame_size`` bytes."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.send_window -= len(data)
        self.send_window -= len(data)
        self._out.append(_frame(DATA, END_STREAM if end_stream else 0, stream_id, data))

    def acknowledge(self, stream_id: int, size: int) -> None:
        """``size`` received bytes of ``stream_id`` were taken: the peer gets the window back
        once half of one is used (one WINDOW_UPDATE per half window, not per frame)."""
        half = self._window // 2
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.unacked += size
            if stream.unacked >= half:
                self._out.append(
                    _frame(WINDOW_UPDATE, 0, stream_id, stream.unacked.to_bytes(4, "big"))
                )
                stream.recv_window += stream.unacked
                stream.unacked = 0
        self._unacked += size
        if self._unacked >= half:
            self._out.append(_frame(WINDOW_UPDATE, 0, 0, self._unacked.to_bytes(4, "big")))
            self._recv_window += self._unacked
            self._unacked = 0

    def reset(self, stream_id: int, code: int) -> None:
        if self._streams.pop(stream_id, None) is not None:
            self._out.append(_frame(RST_STREAM, 0, stream_id, code.to_bytes(4, "big")))

    def forget(self, stream_id: int) -> None:
        """The stream ended both ways."""
        self._streams.pop(stream_id, None)

    def close(self, code: int = 0) -> None:
        last = 0  # minikn accepts no pushed streams
        self._out.append(_frame(GOAWAY, 0, 0, last.to_bytes(4, "big") + code.to_bytes(4, "big")))
        self.closed = True

    def _fail(self, code: int, why: str) -> H2ProtocolError:
        self.close(code)
        return H2ProtocolError(why)

    # In ------------------------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[tuple[Any, ...]]:
        buf = self._in + data if self._in else data
        events: list[tuple[Any, ...]] = []
        pos, end = 0, len(buf)
        while end - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            if length > _FRAME:
                raise self._fail(FRAME_SIZE_ERROR, f"a frame of {length} bytes")
            if end - pos - 9 < length:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            stream_id = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            payload = buf[pos + 9 : pos + 9 + length]
            pos += 9 + length
            self._frame_in(kind, flags, stream_id, payload, events)
        self._in = buf[pos:]
        return events

    def _frame_in(
        self, kind: int, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        if self._continuing is not None and kind != CONTINUATION:
            raise self._fail(PROTOCOL_ERROR, "a frame inside a header block")
        if kind == DATA:
            self._data(flags, stream_id, payload, events)
        elif kind == HEADERS:
            if stream_id == 0:
                raise self._fail(PROTOCOL_ERROR, "HEADERS on stream 0")
            block = self._unpad(flags, payload)
            if flags & PRIORITY_FLAG:
                block = block[5:]
            self._continuing = (stream_id, bool(flags & END_STREAM), [block])
            if flags & END_HEADERS:
                self._headers_done(events)
        elif kind == CONTINUATION:
            if self._continuing is None or self._continuing[0] != stream_id:
                raise self._fail(PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
            self._continuing[2].append(payload)
            if sum(len(b) for b in self._continuing[2]) > self.decoder.max_header_list_size:
                raise self._fail(PROTOCOL_ERROR, "header block too large")
            if flags & END_HEADERS:
                self._headers_done(events)
        elif kind == RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise self._fail(PROTOCOL_ERROR, "malformed RST_STREAM")
            self._streams.pop(stream_id, None)
            events.append(("reset", stream_id, int.from_bytes(payload, "big")))
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload, events)
        elif kind == PING:
            if stream_id != 0 or len(payload) != 8:
                raise self._fail(PROTOCOL_ERROR, "malformed PING")
            if not flags & ACK:
                self._out.append(_frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            if stream_id != 0 or len(payload) < 8:
                raise self._fail(PROTOCOL_ERROR, "malformed GOAWAY")
            last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            events.append(("goaway", last, int.from_bytes(payload[4:8], "big")))
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, payload, events)
        elif kind == PUSH_PROMISE:
            raise self._fail(PROTOCOL_ERROR, "PUSH_PROMISE with push disabled")
        # PRIORITY and unknown frame types are ignored (RFC 9113 sections 5.3.2 and 4.1).

    def _unpad(self, flags: int, payload: bytes) -> bytes:
        if not flags & PADDED:
            return payload
        if not payload or payload[0] >= len(payload):
            raise self._fail(PROTOCOL_ERROR, "padding longer than the frame")
        return payload[1 : len(payload) - payload[0]]

    def _data(
        self, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        if stream_id == 0:
            raise self._fail(PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        self._recv_window -= size
        if self._recv_window < 0:
            raise self._fail(FLOW_CONTROL_ERROR, "the replica overran the connection window")
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.recv_window -= size
            if stream.recv_window < 0:
                raise self._fail(FLOW_CONTROL_ERROR, "the replica overran a stream window")
        data = self._unpad(flags, payload)
        events.append(("data", stream_id, data, size, bool(flags & END_STREAM)))

    def _headers_done(self, events: list[tuple[Any, ...]]) -> None:
        assert self._continuing is not None
        stream_id, end_stream, blocks = self._continuing
        self._continuing = None
        block = blocks[0] if len(blocks) == 1 else b"".join(blocks)
        try:
            fields = self.decoder.decode(block, raw=True)
        except Exception as exc:  # hpack's errors, an oversized list included
            raise self._fail(COMPRESSION_ERROR, f"bad header block: {exc}") from exc
        events.append(("headers", stream_id, fields, end_stream))

    def _settings(
        self, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        if stream_id != 0 or len(payload) % 6:
            raise self._fail(FRAME_SIZE_ERROR, "malformed SETTINGS")
        if flags & ACK:
            return
        for at in range(0, len(payload), 6):
            key = int.from_bytes(payload[at : at + 2], "big")
            value = int.from_bytes(payload[at + 2 : at + 6], "big")
            if key == 1:
                self.encoder.header_table_size = value
            elif key == 3:
                self.peer_max_streams = value
            elif key == 4:
                if value > _MAX_WINDOW:
                    raise self._fail(FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too large")
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
            elif key == 5:
                if not _DEFAULT_FRAME <= value <= 16_777_215:
                    raise self._fail(PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range")
                self.peer_frame_size = value
        self._out.append(_frame(SETTINGS, ACK, 0))
        events.append(("window", 0))

    def _window_update(self, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if len(payload) != 4:
            raise self._fail(FRAME_SIZE_ERROR, "malformed WINDOW_UPDATE")
        increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if increment == 0:
            raise self._fail(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        if stream_id == 0:
            self.send_window += increment
            if self.send_window > _MAX_WINDOW:
                raise self._fail(FLOW_CONTROL_ERROR, "connection window past 2^31-1")
        else:
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            stream.send_window += increment
            if stream.send_window > _MAX_WINDOW:
                raise self._fail(FLOW_CONTROL_ERROR, "stream window past 2^31-1")
        events.append(("window", stream_id))
