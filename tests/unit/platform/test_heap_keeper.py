"""The platform's collector policy: no collection while the state loads, what stays is frozen,
a large change refreezes on a later loop turn, close gives everything back."""

from __future__ import annotations

import asyncio
import gc

from minikn.platform.heap import HeapKeeper


class _Node:
    def __init__(self) -> None:
        self.me = self


async def test_loading_pauses_the_collector_then_freezes_what_stays() -> None:
    keeper = HeapKeeper()
    assert gc.isenabled()
    try:
        with keeper.loading():
            assert not gc.isenabled()
            state = [_Node() for _ in range(100)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(state)
        assert not any(gc.is_tracked(n) and n in gc.get_objects(2) for n in state[:1])
    finally:
        keeper.close()
    assert gc.get_freeze_count() == 0


async def test_a_large_change_refreezes_on_a_later_loop_turn_and_small_ones_wait() -> None:
    keeper = HeapKeeper(refreeze_after=10)
    try:
        keeper.changed(["default/a"] * 4)
        keeper.changed(["default/b"] * 5)
        await asyncio.sleep(0)
        assert keeper.freezes == 0  # 9 changed: below the threshold
        keeper.changed(["default/c"])
        assert keeper.freezes == 0  # never inside the controller's call
        await asyncio.sleep(0)
        assert keeper.freezes == 1
        assert gc.get_freeze_count() > 0
        keeper.changed(["default/d"] * 3)
        await asyncio.sleep(0)
        assert keeper.freezes == 1  # the count started again
    finally:
        keeper.close()
    assert gc.get_freeze_count() == 0
