"""HTTP/2 header coding shared by the ingress and the activator's gRPC upstream.

A gRPC call's header blocks repeat from call to call (the same path, authority, content type and
user agent; the same ``:status 200`` head and ``grpc-status 0`` trailers). ``hpack`` codes each
field in Python every time, at a few µs a field; these two classes code each distinct block once:

- :class:`StaticEncoder` never adds to the peer's dynamic table (fields are sent as static-table
  indexes or literals without indexing, RFC 7541 section 6.2.2, never Huffman coded), so a field's
  bytes depend on the field alone and are cached; what it costs is a few more bytes per block,
  which on loopback is cheaper than the CPU it saves.
- :class:`CachingDecoder` remembers what a block decoded to, keyed by the block's bytes and valid
  while its dynamic table is unchanged: a peer that indexes its repeated fields sends the same few
  bytes each call, decoded once.
"""

from __future__ import annotations

from typing import Any

import hpack
from hpack.struct import HeaderTuple
from hpack.table import HeaderTable

__all__ = ["CachingDecoder", "StaticEncoder", "encode_field"]

_STATIC = HeaderTable.STATIC_TABLE
_INDEX: dict[tuple[bytes, bytes], int] = {}
_NAME_INDEX: dict[bytes, int] = {}
for _i, (_name, _value) in enumerate(_STATIC, start=1):
    _INDEX.setdefault((_name, _value), _i)
    _NAME_INDEX.setdefault(_name, _i)

_FIELDS = 1024
"""Distinct fields an encoder keeps the bytes of (then it starts over)."""
_BLOCKS = 256
"""Distinct header blocks a decoder keeps the decoding of (then it starts over)."""
_BLOCK_BYTES = 1024
"""Blocks larger than this are decoded every time (not worth keeping)."""
_UNCACHED = frozenset(
    (b"x-request-id", b"traceparent", b"tracestate", b"grpc-timeout", b"forwarded", b"date")
)
"""Fields whose value differs on (nearly) every call: coded, not kept."""


def _integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """An HPACK integer (RFC 7541 section 5.1) with ``flags`` in the first byte's high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_field(name: bytes, value: bytes, *, never_indexed: bool = False) -> bytes:
    """One field without touching the dynamic table: a static index when the static table has
    the whole field, else a literal (its name indexed when the static table has the name),
    ``never_indexed`` (RFC 7541 section 6.2.3) for values intermediaries must not index."""
    if not never_indexed:
        index = _INDEX.get((name, value))
        if index is not None:
            return _integer(index, 7, 0x80)
    flags = 0x10 if never_indexed else 0x00
    name_index = _NAME_INDEX.get(name)
    if name_index is not None:
        head = _integer(name_index, 4, flags)
    else:
        head = bytes((flags,)) + _integer(len(name), 7, 0) + name
    return head + _integer(len(value), 7, 0) + value


class StaticEncoder(hpack.Encoder):
    """HPACK with the static table only, each field's bytes cached (see the module's doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[tuple[bytes, bytes], bytes] = {}

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        block: list[bytes] = []
        if self.header_table.resized:  # the peer's SETTINGS_HEADER_TABLE_SIZE: acknowledged
            block.append(self._encode_table_size_change())
            self.header_table.resized = False
        fields = self._fields
        for header in headers:
            if type(header) is tuple:  # the common case: a plain (name, value) pair, cached
                encoded = fields.get(header)
                if encoded is not None:
                    block.append(encoded)
                    continue
            name, value = header[0], header[1]
            if isinstance(header, HeaderTuple) and not header.indexable:
                block.append(encode_field(name, value, never_indexed=True))
                continue
            key = (name, value)
            encoded = fields.get(key)
            if encoded is None:
                encoded = encode_field(name, value)
                if name not in _UNCACHED:
                    if len(fields) >= _FIELDS:
                        fields.clear()
                    fields[key] = encoded
            block.append(encoded)
        return b"".join(block)


class _CountedTable(HeaderTable):
    """A dynamic table that counts its changes (what a decoded block is valid for)."""

    def __init__(self) -> None:
        super().__init__()
        self.version = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.version += 1
        super().add(name, value)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, newmax: int) -> None:
        self.version = getattr(self, "version", 0) + 1
        HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


class CachingDecoder(hpack.Decoder):
    """HPACK decoding that remembers repeated blocks (see the module's doc)."""

    def __init__(self, max_header_list_size: int = 65536) -> None:
        super().__init__(max_header_list_size)
        table = _CountedTable()
        self.header_table = table
        self._table = table
        self._blocks: dict[bytes, tuple[tuple[int, int, int], list[HeaderTuple]]] = {}

    def decode(self, data: bytes, raw: bool = False) -> list[HeaderTuple]:
        table = self._table
        # What the decoding depends on besides the bytes: the table and the two limits.
        state = (table.version, self.max_header_list_size, self.max_allowed_table_size)
        if raw:
            hit = self._blocks.get(data)
            if hit is not None and hit[0] == state:
                return list(hit[1])
        headers = list(super().decode(data, raw))
        if raw and table.version == state[0] and len(data) <= _BLOCK_BYTES:
            if len(self._blocks) >= _BLOCKS:
                self._blocks.clear()
            self._blocks[bytes(data)] = (state, headers)
            return list(headers)
        return headers
