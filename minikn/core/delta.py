"""What changed between two snapshots of keyed, immutable items, found by identity. Pure.

The control plane publishes whole snapshots (every live revision, every ISVC's route) but keeps
the same object for an item that did not change. :func:`identity_delta` turns two snapshots into
the items to (re)apply and the keys to drop, so a part of the data plane that keeps its own index
does work for what changed, not for everything that exists.

Example: old ``[a1, b1, c1]``, new ``[a1, b2, c1, d1]`` (letter = key, digit = version) ->
changed ``[b2, d1]``, gone ``[]``; new ``[a1, c1]`` -> changed ``[]``, gone ``["b"]``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

__all__ = ["identity_delta"]

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def identity_delta(
    old: Sequence[T], new: Sequence[T], key: Callable[[T], K]
) -> tuple[list[T], list[K]]:
    """The items of ``new`` that are not the very object ``old`` holds under their key (new or
    changed), and the keys of ``old`` that ``new`` lacks.

    Keys are unique within each snapshot. The leading and trailing runs that are the same objects
    in both are skipped by identity alone (no key computed), so one change among thousands costs
    two short walks and a key per item in the differing middle.
    """
    n_old, n_new = len(old), len(new)
    lo = _same_run(old, new)
    back = _same_run(old[lo:][::-1], new[lo:][::-1])  # the common tail, after the common head
    hi_old, hi_new = n_old - back, n_new - back
    if lo == hi_old:
        return list(new[lo:hi_new]), []
    before = {key(item): item for item in old[lo:hi_old]}
    changed: list[T] = []
    for item in new[lo:hi_new]:
        k = key(item)
        if before.pop(k, None) is not item:
            changed.append(item)
    return changed, list(before)


def _same_run(a: Sequence[T], b: Sequence[T]) -> int:
    """How many leading items of ``a`` and ``b`` are the same objects (a loop in C: map)."""
    same = list(map(operator.is_, a, b))
    try:
        return same.index(False)
    except ValueError:
        return len(same)
