"""A minimal HTTP/2 server framer (sans I/O) for h2c client connections on the ingress port.

The peer is untrusted, so every rule of RFC 9113 a server must enforce is checked here, with the
error code the RFC names (and that the ``h2`` library answers with): the preface, SETTINGS first,
minikn's settings in force from the first frame (frame size, header list size, windows,
concurrent streams, no push), client stream ids odd and increasing, frames on idle, half-closed
and closed streams, CONTINUATION sequencing with a bounded header block, padding, PRIORITY,
RST_STREAM, PING, WINDOW_UPDATE, flow control both ways, the peer's SETTINGS, PUSH_PROMISE,
unknown frame types and ``content-length`` against the DATA received. Header blocks are coded
with :mod:`minikn.wire.h2codec`; what a request's header list may contain is checked by the
connection that serves it with :class:`ValidHeaderLists` (``h2``'s own checks, once per
distinct list).

:meth:`H2ServerCodec.receive` returns events as tuples, ``(kind, stream_id, ...)``:

- ``("request", id, fields, end_stream)`` a new stream's header block;
- ``("trailers", id, fields)`` the request's trailers (the stream's end);
- ``("data", id, data, flow_controlled_length, end_stream)`` (acknowledge the length with
  :meth:`~H2ServerCodec.acknowledge` once the data is taken);
- ``("reset", id, error_code)`` the stream is over: the client reset it, or it broke the
  protocol and was reset here (a stream error, RST_STREAM sent);
- ``("window", id)`` the client's window for ``id`` grew (0: the connection's, or its settings);
- ``("goaway", last_stream_id, error_code)`` the client is going away.

A connection error raises :class:`~minikn.wire.h2frames.H2ProtocolError` after queueing a
GOAWAY with its code; the connection is then over (input is ignored).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h2.utilities

from minikn.wire.h2frames import (
    ACK,
    CONTINUATION,
    DATA,
    DEFAULT_FRAME,
    ENABLE_PUSH,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    INITIAL_WINDOW_SIZE,
    MAX_CONCURRENT_STREAMS,
    MAX_FRAME_SIZE,
    MAX_HEADER_LIST_SIZE,
    MAX_WINDOW,
    PING,
    PREFACE,
    PRIORITY,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    STREAM_CLOSED,
    WINDOW_UPDATE,
    H2Framer,
    H2ProtocolError,
    StreamWindows,
    frame,
    settings_entries,
    unpad,
)

__all__ = ["FloodGuard", "H2ServerCodec", "ValidHeaderLists", "validate_request_headers"]

_CONTINUATIONS = 64
"""CONTINUATION frames one header block may take (``h2``'s bound; beyond: PROTOCOL_ERROR)."""
_CLOSED = 1024
"""Closed streams whose way of closing is remembered (to answer a late frame as RFC 9113 5.1)."""
_ENDED, _RESET_SENT, _RESET_RECEIVED = 0, 1, 2


class _Stream(StreamWindows):
    __slots__ = ("length", "local_closed", "received", "remote_closed")

    def __init__(self, send_window: int, recv_window: int) -> None:
        super().__init__(send_window, recv_window)
        self.remote_closed = False
        """The client ended its side (half-closed (remote))."""
        self.local_closed = False
        self.length: int | None = None
        """The request's ``content-length``, checked against the DATA received."""
        self.received = 0


class H2ServerCodec(H2Framer):
    """One client connection's HTTP/2 framing, stream states and flow control."""

    def __init__(
        self,
        *,
        max_concurrent_streams: int,
        max_header_list_size: int,
        stream_window: int,
        connection_window: int,
        max_frame_size: int = DEFAULT_FRAME,
    ) -> None:
        super().__init__(
            max_header_list_size=max_header_list_size,
            max_frame_size=max_frame_size,
            stream_window=stream_window,
            connection_window=connection_window,
        )
        self._max_streams = max_concurrent_streams
        self._max_header_list = max_header_list_size
        self._preface = PREFACE
        """What is still to come of the client's preface."""
        self._settled = False
        """The client's first frame (its SETTINGS) has come."""
        self._streams: dict[int, _Stream] = {}
        self._closed: dict[int, int] = {}
        self.highest = 0
        """The largest stream id the client opened (GOAWAY's last stream id)."""
        self._continuing: tuple[int, int, list[bytes]] | None = None

    # Out -----------------------------------------------------------------------------------------

    def initiate(self) -> None:
        """minikn's SETTINGS (in force from the client's first frame, not only once it
        acknowledges them) and the connection's window raised to ``connection_window``."""
        values = (
            (MAX_CONCURRENT_STREAMS, self._max_streams),
            (MAX_HEADER_LIST_SIZE, self._max_header_list),
            (INITIAL_WINDOW_SIZE, self._stream_window),
            (MAX_FRAME_SIZE, self._max_frame),
            (ENABLE_PUSH, 0),
        )
        self._out.append(self._settings_frame(values))

    def send_headers(self, stream_id: int, headers: Any, *, end_stream: bool) -> bool:
        """HEADERS (and CONTINUATION past the client's frame size); False when the stream is not
        open on this side (nothing is sent)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_closed or self.closed:
            return False
        self._send_block(stream_id, headers, end_stream)
        if end_stream:
            self._end_local(stream_id, stream)
        return True

    def window(self, stream_id: int) -> int:
        """How many DATA bytes ``stream_id`` may send now (each frame at most
        ``peer_frame_size``)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_closed:
            return 0
        return max(0, min(stream.send_window, self.send_window))

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> bool:
        """``data`` within ``window`` and ``peer_frame_size``; False when the stream is not open
        on this side."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_closed or self.closed:
            return False
        self._send_data(stream_id, stream, data, end_stream)
        if end_stream:
            self._end_local(stream_id, stream)
        return True

    def acknowledge(self, stream_id: int, size: int) -> None:
        """``size`` received bytes of ``stream_id`` were taken: the client gets the window back
        once half of one is used; a stream the client ended gives back only the connection's."""
        stream = self._streams.get(stream_id)
        self._acknowledge(stream_id, stream if stream and not stream.remote_closed else None, size)

    def reset(self, stream_id: int, code: int) -> None:
        """RST_STREAM: the stream is over (frames the client still sends on it are ignored)."""
        if self._streams.pop(stream_id, None) is not None and not self.closed:
            self._out.append(frame(RST_STREAM, 0, stream_id, code.to_bytes(4, "big")))
            self._remember(stream_id, _RESET_SENT)

    def close(self, code: int = 0) -> None:
        """GOAWAY with the last stream id the client opened; the connection is over."""
        self._send_goaway(self.highest, code)

    def _end_local(self, stream_id: int, stream: _Stream) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            del self._streams[stream_id]
            self._remember(stream_id, _ENDED)

    def _remember(self, stream_id: int, how: int) -> None:
        closed = self._closed
        if len(closed) >= _CLOSED:
            del closed[next(iter(closed))]
        closed[stream_id] = how

    def _stream_error(self, stream_id: int, code: int, events: list[tuple[Any, ...]]) -> None:
        """RST_STREAM with ``code`` and the stream is over (section 5.4.2)."""
        self.reset(stream_id, code)
        events.append(("reset", stream_id, code))

    # In ------------------------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[tuple[Any, ...]]:
        if self.closed:  # after a GOAWAY nothing more is read
            return []
        if self._preface:
            n = min(len(self._preface), len(data))
            if data[:n] != self._preface[:n]:
                self.close(PROTOCOL_ERROR)
                raise H2ProtocolError("not the HTTP/2 client preface")
            self._preface = self._preface[n:]
            data = data[n:]
        return super().receive(data)

    def _idle(self, stream_id: int) -> bool:
        """Never opened: above the highest id the client used, or even (minikn pushes none)."""
        return stream_id > self.highest or not stream_id & 1

    def _frame_in(
        self, kind: int, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        if self._continuing is not None:
            if kind != CONTINUATION or stream_id != self._continuing[0]:
                raise H2ProtocolError("a frame inside a header block")
        elif not self._settled:
            if kind != SETTINGS or flags & ACK:
                raise H2ProtocolError("the client's first frame is not SETTINGS")
            self._settled = True
        if kind == DATA:
            self._data(flags, stream_id, payload, events)
        elif kind == HEADERS:
            if stream_id == 0:
                raise H2ProtocolError("HEADERS on stream 0")
            if flags & PRIORITY_FLAG:
                body = unpad(flags, payload, 5)
                self._check_priority(stream_id, body)
                block = body[5:]
            else:
                block = unpad(flags, payload)
            if flags & END_HEADERS:
                self._headers(stream_id, flags, block, events)
            else:
                self._check_block(len(block))
                self._continuing = (stream_id, flags, [block])
        elif kind == CONTINUATION:
            if self._continuing is None:
                raise H2ProtocolError("CONTINUATION without its HEADERS")
            _, head_flags, blocks = self._continuing
            blocks.append(payload)
            if len(blocks) > _CONTINUATIONS:
                raise H2ProtocolError("too many CONTINUATION frames")
            self._check_block(sum(len(b) for b in blocks))
            if flags & END_HEADERS:
                self._continuing = None
                self._headers(stream_id, head_flags, b"".join(blocks), events)
        elif kind == WINDOW_UPDATE:
            self._window_update(stream_id, payload, events)
        elif kind == SETTINGS:
            self._settings(flags, stream_id, payload, events)
        elif kind == PING:
            self._ping(flags, stream_id, payload)
        elif kind == RST_STREAM:
            self._rst_stream(stream_id, payload, events)
        elif kind == PRIORITY:
            if stream_id == 0:
                raise H2ProtocolError("PRIORITY on stream 0")
            if len(payload) != 5:
                raise H2ProtocolError("a PRIORITY not of 5 bytes", FRAME_SIZE_ERROR)
            self._check_priority(stream_id, payload)
        elif kind == GOAWAY:
            self._goaway(stream_id, payload, events)
        elif kind == PUSH_PROMISE:
            raise H2ProtocolError("PUSH_PROMISE from a client")
        # Unknown frame types are ignored (section 5.5), but not inside a header block (above).

    def _check_priority(self, stream_id: int, fields: bytes) -> None:
        if int.from_bytes(fields[:4], "big") & 0x7FFFFFFF == stream_id:
            raise H2ProtocolError(f"stream {stream_id} depends on itself")

    def _check_block(self, size: int) -> None:
        if size > self._max_header_list:
            raise H2ProtocolError(f"a header block over {size} bytes", ENHANCE_YOUR_CALM)

    def _headers(
        self, stream_id: int, flags: int, block: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        # Decoded first, whatever becomes of the stream: the block may change the HPACK table.
        fields = self._decode(block)
        end = bool(flags & END_STREAM)
        stream = self._streams.get(stream_id)
        if stream is not None:  # trailers
            if stream.remote_closed:
                self._stream_error(stream_id, STREAM_CLOSED, events)
            elif not end:
                raise H2ProtocolError("trailers without END_STREAM")
            elif stream.length is not None and stream.length != stream.received:
                self._stream_error(stream_id, PROTOCOL_ERROR, events)
            else:
                stream.remote_closed = True
                events.append(("trailers", stream_id, fields))
                if stream.local_closed:
                    del self._streams[stream_id]
                    self._remember(stream_id, _ENDED)
            return
        if not stream_id & 1:
            raise H2ProtocolError(f"stream id {stream_id} is even")
        if stream_id <= self.highest:
            self._closed_stream(stream_id, HEADERS, events)
            return
        if len(self._streams) >= self._max_streams:
            raise H2ProtocolError(f"more than {self._max_streams} concurrent streams")
        self.highest = stream_id
        stream = _Stream(self._peer_initial_window, self._stream_window)
        self._streams[stream_id] = stream
        stream.remote_closed = end
        for name, value in fields:
            if name == b"content-length":
                if (
                    not value.isdigit()
                    or len(value) > 18
                    or stream.length not in (None, int(value))
                ):
                    self._stream_error(stream_id, PROTOCOL_ERROR, events)
                    return
                stream.length = int(value)
        if end and stream.length:
            self._stream_error(stream_id, PROTOCOL_ERROR, events)
            return
        events.append(("request", stream_id, fields, end))

    def _closed_stream(self, stream_id: int, kind: int, events: list[tuple[Any, ...]]) -> None:
        """DATA or HEADERS on a closed stream (section 5.1): ignored after minikn reset it,
        STREAM_CLOSED (a stream error) after the client did, STREAM_CLOSED (a connection error)
        after both sides ended it; HEADERS below the highest id on a stream never opened is
        PROTOCOL_ERROR (section 5.1.1)."""
        how = self._closed.get(stream_id)
        if how == _RESET_SENT:
            return
        if how == _RESET_RECEIVED:
            self._out.append(frame(RST_STREAM, 0, stream_id, STREAM_CLOSED.to_bytes(4, "big")))
            return
        if how == _ENDED or kind == DATA:
            raise H2ProtocolError(f"a frame on closed stream {stream_id}", STREAM_CLOSED)
        raise H2ProtocolError(f"stream id {stream_id} not above {self.highest}")

    def _data(
        self, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        if stream_id == 0:
            raise H2ProtocolError("DATA on stream 0")
        size = len(payload)
        stream = self._streams.get(stream_id)
        if stream is None or stream.remote_closed:
            self._received(None, size)
            if stream is None and self._idle(stream_id):
                raise H2ProtocolError(f"DATA on idle stream {stream_id}")
            self._acknowledge(stream_id, None, size)  # nobody reads it: the window comes back
            if stream is not None:  # half-closed (remote)
                self._stream_error(stream_id, STREAM_CLOSED, events)
            else:
                self._closed_stream(stream_id, DATA, events)
            return
        self._received(stream, size)
        data = unpad(flags, payload)
        end = bool(flags & END_STREAM)
        length = stream.length
        if length is not None:
            stream.received += len(data)
            if stream.received > length or (end and stream.received != length):
                self._acknowledge(stream_id, None, size)
                self._stream_error(stream_id, PROTOCOL_ERROR, events)
                return
        if end:
            stream.remote_closed = True
            if stream.local_closed:
                del self._streams[stream_id]
                self._remember(stream_id, _ENDED)
        events.append(("data", stream_id, data, size, end))

    def _rst_stream(self, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if stream_id == 0:
            raise H2ProtocolError("RST_STREAM on stream 0")
        if len(payload) != 4:
            raise H2ProtocolError("a RST_STREAM not of 4 bytes", FRAME_SIZE_ERROR)
        if self._streams.pop(stream_id, None) is not None:
            self._remember(stream_id, _RESET_RECEIVED)
            events.append(("reset", stream_id, int.from_bytes(payload, "big")))
        elif self._idle(stream_id):
            raise H2ProtocolError(f"RST_STREAM on idle stream {stream_id}")
        # On a closed stream it is ignored (section 5.1).

    def _settings(
        self, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        entries = settings_entries(flags, stream_id, payload)
        if not flags & ACK:
            self._apply_settings(entries, self._streams.values(), events)

    def _window_update(self, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        increment = self._window_increment(stream_id, payload)
        if stream_id == 0:
            events.append(("window", 0))
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._idle(stream_id):
                raise H2ProtocolError(f"WINDOW_UPDATE on idle stream {stream_id}")
            return  # a closed stream's: ignored
        if increment == 0:
            self._stream_error(stream_id, PROTOCOL_ERROR, events)
            return
        stream.send_window += increment
        if stream.send_window > MAX_WINDOW:
            self._stream_error(stream_id, FLOW_CONTROL_ERROR, events)
            return
        events.append(("window", stream_id))


UNREAD_FLOOD = 1 << 20
"""Bytes beyond the connection window a client may send while it reads nothing."""
RESET_FLOOR = 200
"""Client-reset streams a connection may have before they are compared with answered ones."""


class FloodGuard:
    """Two floods a server ends with GOAWAY ENHANCE_YOUR_CALM, which the framer alone cannot see:

    - a client that keeps sending while it reads nothing (the transport paused writing): every
      frame may queue an answer (PING, SETTINGS, a reset), so that queue grows. What it may send
      meanwhile that is not a flood is request data, bounded by the connection's window, so past
      the window and ``UNREAD_FLOOD`` more it is one (Go's server allows 10,000 queued control
      frames; this is ~60,000 PINGs);
    - a client that resets more streams than it lets be answered, past ``RESET_FLOOR``: opening
      a stream and resetting it at once costs it two frames and the server a dispatched call
      each (the rapid reset of CVE-2023-44487); a client cancelling a call now and then stays
      far below it.

    The connection reports what happens; a method that returns a reason means: calm it down."""

    __slots__ = ("_abandoned", "_allowance", "_answered", "_paused", "_unread")

    def __init__(self, connection_window: int) -> None:
        self._allowance = connection_window + UNREAD_FLOOD
        self._paused = False
        self._unread = 0
        self._answered = 0
        self._abandoned = 0

    def pause(self) -> None:
        """The client stopped reading (the transport's buffer is full)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._unread = 0

    def read(self, size: int) -> str | None:
        if self._paused:
            self._unread += size
            if self._unread > self._allowance:
                return "sends while it reads nothing"
        return None

    def answered(self) -> None:
        """A stream was answered."""
        self._answered += 1

    def abandoned(self) -> str | None:
        """The client reset a stream before its answer."""
        self._abandoned += 1
        if self._abandoned > RESET_FLOOR and self._abandoned > self._answered:
            return "resets the streams it opens (rapid reset)"
        return None


_REQUEST_FLAGS = h2.utilities.HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=False, is_push_promise=False
)
_TRAILER_FLAGS = _REQUEST_FLAGS._replace(is_trailer=True)
_VALIDATED = 64
"""Distinct request header lists a connection remembers as valid (then it starts over)."""
_VALIDATED_BYTES = 4096
"""Larger lists are checked every time (a connection keeps at most 64 x 4 KiB of them)."""
_PER_CALL = frozenset((b"grpc-timeout", b"x-request-id", b"traceparent", b"tracestate"))
"""Request fields whose value differs from call to call: a list with one is validated, not kept."""


def validate_request_headers(
    headers: Sequence[tuple[bytes, bytes]], *, trailers: bool = False
) -> None:
    """Raise :class:`h2.exceptions.ProtocolError` for a header list RFC 9113 section 8.2 calls
    malformed: h2's own inbound checks (illegal characters, empty or uppercase names,
    connection-specific fields, ``te`` other than ``trailers``, pseudo-headers missing,
    repeated, unknown, after a regular field, or in trailers)."""
    flags = _TRAILER_FLAGS if trailers else _REQUEST_FLAGS
    for _ in h2.utilities.validate_headers(headers, flags):
        pass


class ValidHeaderLists:
    """The request header lists one connection found valid: a gRPC client sends the same list
    call after call, so each distinct one is checked once (``validate_request_headers`` costs
    ~20 µs a list, the lookup 0.4 µs). Only lists of at most 4 KiB without a per-call field
    (``grpc-timeout``, ``traceparent``, ...) are kept, at most 64 (then it starts over)."""

    __slots__ = ("_valid",)

    def __init__(self) -> None:
        self._valid: set[tuple[tuple[bytes, bytes], ...]] = set()

    def check(self, headers: Sequence[tuple[bytes, bytes]]) -> None:
        """Raise :class:`h2.exceptions.ProtocolError` for a malformed list."""
        key = tuple(headers)
        if key in self._valid:
            return
        validate_request_headers(key)
        size = sum(len(name) + len(value) for name, value in key)
        if size <= _VALIDATED_BYTES and not any(name in _PER_CALL for name, _ in key):
            if len(self._valid) >= _VALIDATED:
                self._valid.clear()
            self._valid.add(key)

    def __len__(self) -> int:
        return len(self._valid)

    def __contains__(self, headers: object) -> bool:
        return headers in self._valid
