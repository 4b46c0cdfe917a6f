"""A map of string keys kept in key order, changed in place (the published views' backing)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Generic, TypeVar

__all__ = ["SortedMap"]

V = TypeVar("V")


class SortedMap(Generic[V]):
    """Keys and values in two aligned lists sorted by key: a change costs a binary search and a
    list shift (a memmove), not a sort of every key; :meth:`values` is one list copy."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._values: list[V] = []

    def __len__(self) -> int:
        return len(self._keys)

    def _find(self, key: str) -> tuple[int, bool]:
        i = bisect_left(self._keys, key)
        return i, i < len(self._keys) and self._keys[i] == key

    def get(self, key: str) -> V | None:
        i, found = self._find(key)
        return self._values[i] if found else None

    def set(self, key: str, value: V) -> bool:
        """Put ``value`` at ``key``; False when that very object was there already."""
        i, found = self._find(key)
        if found:
            if self._values[i] is value:
                return False
            self._values[i] = value
        else:
            self._keys.insert(i, key)
            self._values.insert(i, value)
        return True

    def remove(self, key: str) -> bool:
        """Drop ``key``; False when it was not there."""
        i, found = self._find(key)
        if found:
            del self._keys[i]
            del self._values[i]
        return found

    def keys(self) -> list[str]:
        return list(self._keys)

    def values(self) -> list[V]:
        """The values in key order (a new list)."""
        return list(self._values)
