"""HTTP/2 frames (RFC 9113 section 4) and what minikn's client and server framers share.

Frame types, flags and error codes as numbers, packing one frame, splitting a buffer into frames,
stripping padding and reading a SETTINGS payload, each with the error the RFC names for its
violation (:class:`H2ProtocolError` carries the code for the GOAWAY); and :class:`H2Framer`, the
part of a connection both :mod:`minikn.wire.h2client` and :mod:`minikn.wire.h2server` keep: the
input buffer, the output queue, header blocks both ways, the peer's settings and both directions'
flow-control windows.
"""

from __future__ import annotations

from typing import Any

from hpack import OversizedHeaderListError

from minikn.wire.h2codec import CachingDecoder, StaticEncoder

__all__ = [
    "PREFACE",
    "H2Framer",
    "H2ProtocolError",
    "StreamWindows",
    "frame",
    "settings_entries",
    "split_frames",
    "unpad",
]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The client connection preface (RFC 9113 section 3.4)."""

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL = 0x5, 0x6, 0x7, 0x8
COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x9, 0xB

HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6
ENABLE_CONNECT_PROTOCOL = 0x8

MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
DEFAULT_FRAME = 16_384
LARGEST_FRAME = 2**24 - 1


class H2ProtocolError(Exception):
    """The peer broke HTTP/2: the connection is over (a GOAWAY with ``code`` is queued)."""

    def __init__(self, why: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(why)
        self.code = code


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes((kind, flags))
        + stream_id.to_bytes(4, "big")
        + payload
    )


def split_frames(buf: bytes, max_size: int, frames: list[tuple[int, int, int, bytes]]) -> int:
    """Append ``buf``'s complete frames to ``frames`` as (type, flags, stream id, payload) and
    return how many bytes they took; a frame announced longer than ``max_size`` raises
    FRAME_SIZE_ERROR as soon as its 9-byte header is in (RFC 9113 section 4.2)."""
    pos, end = 0, len(buf)
    while end - pos >= 9:
        length = int.from_bytes(buf[pos : pos + 3], "big")
        if length > max_size:
            raise H2ProtocolError(f"a frame of {length} bytes", FRAME_SIZE_ERROR)
        if end - pos - 9 < length:
            break
        stream_id = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        frames.append((buf[pos + 3], buf[pos + 4], stream_id, buf[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    return pos


def unpad(flags: int, payload: bytes, fixed: int = 0) -> bytes:
    """A DATA or HEADERS payload without its padding (``fixed``: bytes after the pad length
    that are not padding, a HEADERS frame's priority fields): a payload too short for its pad
    length field is FRAME_SIZE_ERROR, padding longer than the rest PROTOCOL_ERROR (section 6.1,
    6.2)."""
    if not flags & PADDED:
        if len(payload) < fixed:
            raise H2ProtocolError("a frame too short for its fields", FRAME_SIZE_ERROR)
        return payload
    if len(payload) < 1 + fixed:
        raise H2ProtocolError("a padded frame without its pad length", FRAME_SIZE_ERROR)
    pad = payload[0]
    if pad > len(payload) - 1 - fixed:
        raise H2ProtocolError("padding longer than the frame")
    return payload[1 : len(payload) - pad]


def settings_entries(flags: int, stream_id: int, payload: bytes) -> list[tuple[int, int]]:
    """A SETTINGS frame's (identifier, value) pairs, each checked (section 6.5): not on stream 0
    is PROTOCOL_ERROR, a length not a multiple of 6 or an ACK with a payload FRAME_SIZE_ERROR,
    ENABLE_PUSH or ENABLE_CONNECT_PROTOCOL other than 0/1 and MAX_FRAME_SIZE out of its range
    PROTOCOL_ERROR, INITIAL_WINDOW_SIZE above 2^31-1 FLOW_CONTROL_ERROR. An ACK gives []."""
    if stream_id != 0:
        raise H2ProtocolError("SETTINGS on a stream")
    if flags & ACK:
        if payload:
            raise H2ProtocolError("a SETTINGS ACK with a payload", FRAME_SIZE_ERROR)
        return []
    if len(payload) % 6:
        raise H2ProtocolError("a SETTINGS payload not a multiple of 6", FRAME_SIZE_ERROR)
    entries = []
    for at in range(0, len(payload), 6):
        key = int.from_bytes(payload[at : at + 2], "big")
        value = int.from_bytes(payload[at + 2 : at + 6], "big")
        if key in (ENABLE_PUSH, ENABLE_CONNECT_PROTOCOL) and value > 1:
            raise H2ProtocolError(f"setting {key} of {value} (0 or 1)")
        if key == INITIAL_WINDOW_SIZE and value > MAX_WINDOW:
            raise H2ProtocolError("INITIAL_WINDOW_SIZE above 2^31-1", FLOW_CONTROL_ERROR)
        if key == MAX_FRAME_SIZE and not DEFAULT_FRAME <= value <= LARGEST_FRAME:
            raise H2ProtocolError("MAX_FRAME_SIZE out of range")
        entries.append((key, value))
    return entries


class StreamWindows:
    """One stream's flow-control windows."""

    __slots__ = ("recv_window", "send_window", "unacked")

    def __init__(self, send_window: int, recv_window: int) -> None:
        self.send_window = send_window
        self.recv_window = recv_window
        self.unacked = 0
        """Bytes received and taken but not yet given back to the peer."""


class H2Framer:
    """Bytes in and out of one HTTP/2 connection, its header coding, the peer's settings and the
    connection's windows; subclasses keep the streams and read the frames."""

    def __init__(
        self,
        max_header_list_size: int,
        max_frame_size: int,
        stream_window: int,
        connection_window: int,
    ) -> None:
        self.encoder = StaticEncoder()
        self.decoder = CachingDecoder(max_header_list_size)
        self._max_frame = max_frame_size
        self._stream_window = stream_window
        self._connection_window = connection_window
        self._out: list[bytes] = []
        self._in = bytearray()
        self._need = 0
        self.peer_frame_size = DEFAULT_FRAME
        self._peer_initial_window = DEFAULT_WINDOW
        self.send_window = DEFAULT_WINDOW
        """The connection's send window (the peer's receive window)."""
        self._recv_window = DEFAULT_WINDOW
        self._unacked = 0
        self.closed = False

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _settings_frame(self, values: tuple[tuple[int, int], ...]) -> bytes:
        """minikn's SETTINGS (and the connection's window raised to ``connection_window``)."""
        payload = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in values)
        out = frame(SETTINGS, 0, 0, payload)
        grow = self._connection_window - DEFAULT_WINDOW
        if grow > 0:
            out += frame(WINDOW_UPDATE, 0, 0, grow.to_bytes(4, "big"))
            self._recv_window += grow
        return out

    def _send_block(self, stream_id: int, headers: Any, end_stream: bool) -> None:
        """HEADERS, and CONTINUATION past the peer's frame size."""
        block = self.encoder.encode(headers)
        size = self.peer_frame_size
        flags = END_STREAM if end_stream else 0
        if len(block) <= size:
            self._out.append(frame(HEADERS, flags | END_HEADERS, stream_id, block))
            return
        self._out.append(frame(HEADERS, flags, stream_id, block[:size]))
        for start in range(size, len(block), size):
            last = start + size >= len(block)
            piece = block[start : start + size]
            self._out.append(frame(CONTINUATION, END_HEADERS if last else 0, stream_id, piece))

    def _send_data(
        self, stream_id: int, stream: StreamWindows, data: bytes, end_stream: bool
    ) -> None:
        stream.send_window -= len(data)
        self.send_window -= len(data)
        self._out.append(frame(DATA, END_STREAM if end_stream else 0, stream_id, data))

    def _acknowledge(self, stream_id: int, stream: StreamWindows | None, size: int) -> None:
        """``size`` received bytes were taken: the peer gets the window back once half of one
        is used (one WINDOW_UPDATE per half window, not per frame); ``stream`` None gives back
        only the connection's."""
        if stream is not None:
            stream.unacked += size
            if stream.unacked >= self._stream_window // 2:
                increment, stream.unacked = stream.unacked, 0
                self._out.append(frame(WINDOW_UPDATE, 0, stream_id, increment.to_bytes(4, "big")))
                stream.recv_window += increment
        self._unacked += size
        if self._unacked >= self._connection_window // 2:
            increment, self._unacked = self._unacked, 0
            self._out.append(frame(WINDOW_UPDATE, 0, 0, increment.to_bytes(4, "big")))
            self._recv_window += increment

    def receive(self, data: bytes) -> list[tuple[Any, ...]]:
        """The events ``data`` brings (a protocol error queues GOAWAY and raises)."""
        events: list[tuple[Any, ...]] = []
        try:
            for kind, flags, stream_id, payload in self._frames(data):
                self._frame_in(kind, flags, stream_id, payload, events)
        except H2ProtocolError as exc:
            self.close(exc.code)
            raise
        return events

    def _frame_in(
        self, kind: int, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        raise NotImplementedError

    def close(self, code: int = 0) -> None:
        raise NotImplementedError

    def _frames(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        """The complete frames ``data`` ends (a frame's beginning is kept until its end comes;
        a partial frame is not parsed again per read)."""
        frames: list[tuple[int, int, int, bytes]] = []
        if self._in:
            self._in += data
            if len(self._in) < self._need:
                return frames
            buf = bytes(self._in)
        else:
            buf = data
        pos = split_frames(buf, self._max_frame, frames)
        if pos < len(buf):
            rest = buf[pos:]
            self._in = bytearray(rest)
            self._need = 9 + int.from_bytes(rest[:3], "big") if len(rest) >= 9 else 9
        elif self._in:
            self._in = bytearray()
        return frames

    def _received(self, stream: StreamWindows | None, size: int) -> None:
        """A DATA frame of ``size`` bytes counted against the windows: beyond one is
        FLOW_CONTROL_ERROR."""
        self._recv_window -= size
        if self._recv_window < 0:
            raise H2ProtocolError("the peer overran the connection window", FLOW_CONTROL_ERROR)
        if stream is not None:
            stream.recv_window -= size
            if stream.recv_window < 0:
                raise H2ProtocolError("the peer overran a stream window", FLOW_CONTROL_ERROR)

    def _decode(self, block: bytes) -> list[Any]:
        try:
            return self.decoder.decode(block, raw=True)
        except OversizedHeaderListError as exc:
            raise H2ProtocolError(f"oversized header list: {exc}", ENHANCE_YOUR_CALM) from exc
        except Exception as exc:  # hpack's errors (and the IndexError of a bad index)
            raise H2ProtocolError(f"bad header block: {exc}", COMPRESSION_ERROR) from exc

    def _apply_settings(
        self, entries: list[tuple[int, int]], streams: Any, events: list[tuple[Any, ...]]
    ) -> None:
        """The peer's settings (``entries``, checked): acknowledged, and the open ``streams``'
        send windows moved by a new INITIAL_WINDOW_SIZE (past 2^31-1: FLOW_CONTROL_ERROR)."""
        for key, value in entries:
            if key == HEADER_TABLE_SIZE:
                self.encoder.header_table_size = value
            elif key == INITIAL_WINDOW_SIZE:
                delta = value - self._peer_initial_window
                self._peer_initial_window = value
                for stream in streams:
                    stream.send_window += delta
                    if stream.send_window > MAX_WINDOW:
                        raise H2ProtocolError("a stream window past 2^31-1", FLOW_CONTROL_ERROR)
            elif key == MAX_FRAME_SIZE:
                self.peer_frame_size = value
        self._out.append(frame(SETTINGS, ACK, 0))
        events.append(("window", 0))

    def _window_increment(self, stream_id: int, payload: bytes) -> int:
        """A WINDOW_UPDATE's increment (not of 4 bytes: FRAME_SIZE_ERROR); the connection's
        window is grown here (0 is PROTOCOL_ERROR, past 2^31-1 FLOW_CONTROL_ERROR)."""
        if len(payload) != 4:
            raise H2ProtocolError("a WINDOW_UPDATE not of 4 bytes", FRAME_SIZE_ERROR)
        increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if stream_id == 0:
            if increment == 0:
                raise H2ProtocolError("a WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > MAX_WINDOW:
                raise H2ProtocolError("the connection window past 2^31-1", FLOW_CONTROL_ERROR)
        return increment

    def _ping(self, flags: int, stream_id: int, payload: bytes) -> None:
        if stream_id != 0:
            raise H2ProtocolError("PING on a stream")
        if len(payload) != 8:
            raise H2ProtocolError("a PING not of 8 bytes", FRAME_SIZE_ERROR)
        if not flags & ACK:
            self._out.append(frame(PING, ACK, 0, payload))

    def _goaway(self, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]) -> None:
        if stream_id != 0:
            raise H2ProtocolError("GOAWAY on a stream")
        if len(payload) < 8:
            raise H2ProtocolError("a GOAWAY under 8 bytes", FRAME_SIZE_ERROR)
        last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        events.append(("goaway", last, int.from_bytes(payload[4:8], "big")))

    def _send_goaway(self, last_stream_id: int, code: int) -> None:
        if not self.closed:
            payload = last_stream_id.to_bytes(4, "big") + code.to_bytes(4, "big")
            self._out.append(frame(GOAWAY, 0, 0, payload))
            self.closed = True
