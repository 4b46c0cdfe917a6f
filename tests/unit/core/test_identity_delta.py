"""identity_delta finds the new, changed and removed items of two snapshots by identity, as a full
comparison by key would."""

from __future__ import annotations

import random
from dataclasses import dataclass

from minikn.core.delta import identity_delta


@dataclass(frozen=True)
class _Item:
    key: str
    version: int


def _key(item: _Item) -> str:
    return item.key


def _by_comparison(old: list[_Item], new: list[_Item]) -> tuple[set[int], set[str]]:
    """What a full comparison by key finds: ids of new-or-replaced items, keys removed."""
    before = {i.key: i for i in old}
    after = {i.key for i in new}
    return {id(i) for i in new if before.get(i.key) is not i}, set(before) - after


def test_the_docstring_example() -> None:
    a1, b1, c1, b2, d1 = _Item("a", 1), _Item("b", 1), _Item("c", 1), _Item("b", 2), _Item("d", 1)
    assert identity_delta([a1, b1, c1], [a1, b2, c1, d1], _key) == ([b2, d1], [])
    assert identity_delta([a1, b1, c1], [a1, c1], _key) == ([], ["b"])


def test_an_equal_but_new_object_counts_as_changed() -> None:
    a = _Item("a", 1)
    assert identity_delta([a], [_Item("a", 1)], _key)[0] == [_Item("a", 1)]
    assert identity_delta([a], [a], _key) == ([], [])


def test_random_snapshots_agree_with_a_full_comparison() -> None:
    rng = random.Random(7)
    for _ in range(500):
        old = [_Item(f"k{i:03d}", 0) for i in rng.sample(range(60), rng.randrange(0, 40))]
        old.sort(key=_key)
        new = []
        for item in old:
            roll = rng.random()
            if roll < 0.1:
                continue  # removed
            new.append(_Item(item.key, 1) if roll < 0.2 else item)  # changed, or the same object
        have = {i.key for i in new}
        new += [_Item(f"k{i:03d}", 2) for i in range(60, 70) if rng.random() < 0.1]
        new += [_Item(k, 3) for k in (f"k{i:03d}" for i in range(60)) if k not in have][:2]
        if rng.random() < 0.5:
            new.sort(key=_key)
        else:
            rng.shuffle(new)
        changed, gone = identity_delta(old, new, _key)
        assert ({id(i) for i in changed}, set(gone)) == _by_comparison(old, new)
        assert len(changed) == len({id(i) for i in changed})
