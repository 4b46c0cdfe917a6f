"""HTTP/2 header coding shared by the ingress and the activator's gRPC upstream."""

from __future__ import annotations

from typing import Any

import hpack

__all__ = ["LiteralEncoder"]


class LiteralEncoder(hpack.Encoder):
    """HPACK without Huffman coding: optional in HPACK, and on loopback the few bytes it saves
    cost more CPU than they save (about half of a header block's encoding time in ``hpack``)."""

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        return super().encode(headers, huffman=False)
