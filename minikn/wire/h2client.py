"""A minimal HTTP/2 client framer (sans I/O) for the activator's h2c connections to replicas.

What a gRPC proxy's upstream side needs and nothing more (RFC 9113): the preface and settings,
HEADERS (+CONTINUATION) and DATA out, every frame type in, both directions' flow control, PING
answered, SETTINGS acknowledged, GOAWAY and RST_STREAM reported. Headers are coded with
:mod:`minikn.wire.h2codec`. It does per frame what the ``h2`` library does with a state machine,
event objects and frame objects per frame, at a fraction of the CPU (a gRPC call is five frames
on this side; the ingress has its own, :mod:`minikn.wire.h2server`, which checks everything a
hostile client may send). What both keep is :class:`~minikn.wire.h2frames.H2Framer`.

:meth:`H2ClientCodec.receive` returns events as tuples, ``(kind, stream_id, ...)``:

- ``("headers", id, fields, end_stream)`` a complete header block (a head, or trailers);
- ``("data", id, data, flow_controlled_length, end_stream)``;
- ``("reset", id, error_code)``; ``("goaway", last_stream_id, error_code)``;
- ``("window", 0)`` the peer's windows or settings changed (senders may have room now).

A violation of the protocol raises :class:`H2ProtocolError` (after queueing a GOAWAY).
"""

from __future__ import annotations

from typing import Any

from minikn.wire import h2frames as h2f
from minikn.wire.h2frames import PREFACE, H2Framer, H2ProtocolError, StreamWindows

__all__ = ["PREFACE", "H2ClientCodec", "H2ProtocolError"]


class H2ClientCodec(H2Framer):
    """One client connection's HTTP/2 framing and flow control."""

    def __init__(self, window: int, max_header_list_size: int = 65_536) -> None:
        # The largest h2f.frame minikn takes is the protocol's default, never raised.
        super().__init__(max_header_list_size, h2f.DEFAULT_FRAME, window, window)
        self._window = window
        self._streams: dict[int, StreamWindows] = {}
        self._next_id = 1
        self.peer_max_streams = h2f.MAX_WINDOW
        self._continuing: tuple[int, bool, list[bytes]] | None = None

    # Out -----------------------------------------------------------------------------------------

    def initiate(self) -> None:
        """The preface, minikn's settings (no push; ``window`` per stream) and the connection's
        window raised to ``window``."""
        settings = self._settings_frame(
            ((h2f.ENABLE_PUSH, 0), (h2f.INITIAL_WINDOW_SIZE, self._window))
        )
        self._out.append(PREFACE + settings)

    def next_stream_id(self) -> int:
        """Open a stream: its id (None of the frames go out until ``send_headers``)."""
        stream_id = self._next_id
        if stream_id > h2f.MAX_WINDOW:
            raise H2ProtocolError("stream ids exhausted")
        self._next_id += 2
        self._streams[stream_id] = StreamWindows(self._peer_initial_window, self._window)
        return stream_id

    def send_headers(self, stream_id: int, headers: Any, *, end_stream: bool) -> None:
        self._send_block(stream_id, headers, end_stream)

    def window(self, stream_id: int) -> int:
        """How many h2f.DATA bytes ``stream_id`` may send now."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return 0
        return max(0, min(stream.send_window, self.send_window))

    def send_data(self, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
        """``data`` within the windows (``window``) and at most ``peer_frame_size`` bytes."""
        stream = self._streams.get(stream_id)
        if stream is None:  # not counted against a stream (it is over)
            stream = StreamWindows(0, 0)
        self._send_data(stream_id, stream, data, end_stream)

    def acknowledge(self, stream_id: int, size: int) -> None:
        """``size`` received bytes of ``stream_id`` were taken: the peer gets the window back
        once half of one is used (one h2f.WINDOW_UPDATE per half window, not per h2f.frame)."""
        self._acknowledge(stream_id, self._streams.get(stream_id), size)

    def reset(self, stream_id: int, code: int) -> None:
        if self._streams.pop(stream_id, None) is not None:
            self._out.append(h2f.frame(h2f.RST_STREAM, 0, stream_id, code.to_bytes(4, "big")))

    def forget(self, stream_id: int) -> None:
        """The stream ended both ways."""
        self._streams.pop(stream_id, None)

    def close(self, code: int = 0) -> None:
        self._send_goaway(0, code)  # minikn accepts no pushed streams

    # In ------------------------------------------------------------------------------------------

    def _frame_in(
        self, kind: int, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        if self._continuing is not None and kind != h2f.CONTINUATION:
            raise H2ProtocolError("a h2f.frame inside a header block")
        if kind == h2f.DATA:
            self._data(flags, stream_id, payload, events)
        elif kind == h2f.HEADERS:
            if stream_id == 0:
                raise H2ProtocolError("h2f.HEADERS on stream 0")
            fixed = 5 if flags & h2f.PRIORITY_FLAG else 0  # the priority fields, ignored
            block = h2f.unpad(flags, payload, fixed)[fixed:]
            self._continuing = (stream_id, bool(flags & h2f.END_STREAM), [block])
            if flags & h2f.END_HEADERS:
                self._headers_done(events)
        elif kind == h2f.CONTINUATION:
            if self._continuing is None or self._continuing[0] != stream_id:
                raise H2ProtocolError("h2f.CONTINUATION without its h2f.HEADERS")
            self._continuing[2].append(payload)
            if sum(len(b) for b in self._continuing[2]) > self.decoder.max_header_list_size:
                raise H2ProtocolError("header block too large")
            if flags & h2f.END_HEADERS:
                self._headers_done(events)
        elif kind == h2f.RST_STREAM:
            if stream_id == 0 or len(payload) != 4:
                raise H2ProtocolError("malformed h2f.RST_STREAM")
            self._streams.pop(stream_id, None)
            events.append(("reset", stream_id, int.from_bytes(payload, "big")))
        elif kind == h2f.SETTINGS:
            entries = h2f.settings_entries(flags, stream_id, payload)
            if not flags & h2f.ACK:
                for key, value in entries:
                    if key == h2f.MAX_CONCURRENT_STREAMS:
                        self.peer_max_streams = value
                self._apply_settings(entries, self._streams.values(), events)
        elif kind == h2f.PING:
            self._ping(flags, stream_id, payload)
        elif kind == h2f.GOAWAY:
            self._goaway(stream_id, payload, events)
        elif kind == h2f.WINDOW_UPDATE:
            increment = self._window_increment(stream_id, payload)
            if stream_id:
                stream = self._streams.get(stream_id)
                if stream is None:
                    return
                if increment == 0:
                    raise H2ProtocolError("a h2f.WINDOW_UPDATE of 0")
                stream.send_window += increment
                if stream.send_window > h2f.MAX_WINDOW:
                    raise H2ProtocolError("a stream window past 2^31-1", h2f.FLOW_CONTROL_ERROR)
            events.append(("window", stream_id))
        elif kind == h2f.PUSH_PROMISE:
            raise H2ProtocolError("h2f.PUSH_PROMISE with push disabled")
        # PRIORITY and unknown h2f.frame types are ignored (RFC 9113 sections 5.3.2 and 4.1).

    def _data(
        self, flags: int, stream_id: int, payload: bytes, events: list[tuple[Any, ...]]
    ) -> None:
        if stream_id == 0:
            raise H2ProtocolError("h2f.DATA on stream 0")
        self._received(self._streams.get(stream_id), len(payload))
        data = h2f.unpad(flags, payload)
        events.append(("data", stream_id, data, len(payload), bool(flags & h2f.END_STREAM)))

    def _headers_done(self, events: list[tuple[Any, ...]]) -> None:
        assert self._continuing is not None
        stream_id, end_stream, blocks = self._continuing
        self._continuing = None
        fields = self._decode(blocks[0] if len(blocks) == 1 else b"".join(blocks))
        events.append(("headers", stream_id, fields, end_stream))
