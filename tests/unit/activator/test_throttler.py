"""The per-revision throttler: FIFO buffer, bound, poke, failure, abandonment, draining."""

from __future__ import annotations

import asyncio
import random

import pytest

from minikn.activator.balance import Tracker
from minikn.activator.throttler import Slot, Throttler
from minikn.core.clock import FakeClock
from minikn.core.endpoints import Endpoint
from minikn.core.errors import Unavailable


def _throttler(
    cc: int = 1,
    max_buffered: int = 10,
    *,
    max_connections: int = 1024,
    clock: FakeClock | None = None,
    direct: bool = False,
) -> tuple[Throttler, list[str]]:
    pokes: list[str] = []
    t = Throttler(
        "r-00001",
        container_concurrency=cc,
        max_buffered=max_buffered,
        retry_after=2,
        poke=lambda: pokes.append("poke"),
        rng=random.Random(0),
        clock=clock or FakeClock(),
        max_connections=max_connections,
        ejection_time=1.0,
        direct=direct,
    )
    return t, pokes


def _tracker(slot: Slot | None) -> Tracker | None:
    return slot.tracker if slot is not None else None


EP1, EP2 = Endpoint("a", "127.0.0.1", 1), Endpoint("b", "127.0.0.1", 2)


async def test_buffered_requests_get_slots_in_fifo_order_once_replicas_arrive() -> None:
    t, pokes = _throttler(cc=1)
    assert t.try_acquire() is None
    waiters = [t.enqueue() for _ in range(3)]
    assert pokes == ["poke"]  # only the first buffered request at zero replicas pokes
    t.set_endpoints([EP1])
    assert [w.done() for w in waiters] == [True, False, False]
    first = waiters[0].result()
    first.release()
    assert [w.done() for w in waiters] == [True, True, False]
    waiters[1].result().release()
    waiters[2].result().release()
    assert first.tracker.in_flight == 0
    await asyncio.sleep(0)
    assert t.buffered == 0


async def test_new_request_does_not_overtake_the_buffer() -> None:
    t, _ = _throttler(cc=1)
    waiter = t.enqueue()
    t.set_endpoints([EP1])
    slot = waiter.result()
    late = t.enqueue()
    slot.release()
    assert late.done()
    assert t.try_acquire() is None  # the only slot belongs to `late` now


async def test_buffer_is_bounded() -> None:
    t, _ = _throttler(max_buffered=2)
    t.enqueue()
    t.enqueue()
    with pytest.raises(Unavailable, match="buffer full") as info:
        t.enqueue()
    assert info.value.retry_after == 2


async def test_abandoned_waiter_gives_back_a_slot_it_was_handed() -> None:
    t, _ = _throttler(cc=1)
    gone, staying = t.enqueue(), t.enqueue()
    t.set_endpoints([EP1])
    assert gone.done()
    t.abandon(gone)  # the client left after the slot was handed over
    assert staying.done()
    staying.result().release()
    assert t.trackers[0].in_flight == 0


async def test_abandoned_waiter_before_a_slot_is_skipped() -> None:
    t, _ = _throttler(cc=1)
    gone, staying = t.enqueue(), t.enqueue()
    t.abandon(gone)
    t.set_endpoints([EP1])
    assert gone.cancelled()
    assert staying.done()


async def test_failure_fails_buffered_and_new_requests_until_a_replica_is_ready() -> None:
    t, _ = _throttler()
    waiter = t.enqueue()
    t.fail("ImageNotFound", "no such image")
    with pytest.raises(Unavailable, match="ImageNotFound"):
        waiter.result()
    with pytest.raises(Unavailable, match="ImageNotFound"):
        t.enqueue()
    t.set_endpoints([EP1])
    assert t.try_acquire() is not None


async def test_removed_replica_drains_and_gets_no_new_requests() -> None:
    t, _ = _throttler(cc=2)
    t.set_endpoints([EP1])
    old = t.try_acquire()
    assert old is not None
    t.set_endpoints([EP2])
    assert old.tracker.draining
    new = t.try_acquire()
    assert new is not None
    assert new.endpoint == EP2
    old.release()
    assert old.tracker.in_flight == 0
    assert [x.endpoint for x in t.trackers] == [EP2]


async def test_close_fails_everything_waiting() -> None:
    t, _ = _throttler()
    waiter = t.enqueue()
    t.close("gone")
    with pytest.raises(Unavailable, match="gone"):
        waiter.result()


async def test_unlimited_concurrency_never_buffers_with_a_ready_replica() -> None:
    t, _ = _throttler(cc=0)
    t.set_endpoints([EP1])
    slots = [t.try_acquire() for _ in range(1000)]
    assert all(s is not None for s in slots)


async def test_unlimited_concurrency_buffers_beyond_the_connection_bound() -> None:
    t, _ = _throttler(cc=0, max_connections=2)
    t.set_endpoints([EP1])
    first, second = t.try_acquire(), t.try_acquire()
    assert first is not None
    assert second is not None
    assert t.try_acquire() is None
    waiter = t.enqueue()
    assert not waiter.done()
    first.release()
    assert waiter.result().tracker is first.tracker
    assert first.tracker.in_flight == 2


async def test_refusing_replica_is_ejected_and_buffered_requests_wait_for_a_replacement() -> None:
    clock = FakeClock()
    t, _ = _throttler(cc=0, clock=clock)
    t.set_endpoints([EP1])
    dead = t.try_acquire()
    assert dead is not None
    t.eject(dead.tracker)
    dead.release()
    assert t.try_acquire() is None  # the only replica is ejected: nothing to pick
    waiter = t.enqueue()
    t.set_endpoints([EP2])  # the replica manager replaced it
    assert waiter.result().endpoint == EP2
    assert [x.endpoint for x in t.trackers] == [EP2]


async def test_ejected_replica_gets_requests_again_after_the_ejection_time() -> None:
    clock = FakeClock()
    t, _ = _throttler(cc=0, clock=clock)
    t.set_endpoints([EP1, EP2])
    slot = t.try_acquire()
    assert slot is not None
    tracker = slot.tracker
    t.eject(tracker)
    slot.release()
    assert t.ready_count == 1
    assert all(_tracker(t.try_acquire(None)) is not tracker for _ in range(20))
    await clock.advance(0.5)
    assert t.ready_count == 1
    await clock.advance(0.6)
    assert t.ready_count == 2


async def test_ejection_of_the_last_replica_readmits_it_for_buffered_requests() -> None:
    clock = FakeClock()
    t, _ = _throttler(cc=1, clock=clock)
    t.set_endpoints([EP1])
    slot = t.try_acquire()
    assert slot is not None
    tracker = slot.tracker
    t.eject(tracker)
    slot.release()
    waiter = t.enqueue()
    await clock.advance(0.9)
    assert not waiter.done()
    await clock.advance(0.2)
    assert waiter.result().tracker is tracker


async def test_retry_goes_ahead_of_requests_buffered_after_it() -> None:
    t, _ = _throttler(cc=1)
    later = t.enqueue()
    retry = t.enqueue(front=True)
    t.set_endpoints([EP1])
    assert retry.done()
    assert not later.done()


async def test_releasing_a_slot_twice_gives_it_back_once() -> None:
    t, _ = _throttler(cc=1)
    t.set_endpoints([EP1])
    slot = t.try_acquire()
    assert slot is not None
    waiter = t.enqueue()
    slot.release()
    slot.release()  # every error path may release: only the first counts
    assert slot.released
    assert waiter.result().tracker.in_flight == 1  # the waiter's slot, not a phantom second one
    assert t.try_acquire() is None


async def test_acquire_takes_a_free_slot_at_once_and_otherwise_waits_in_the_buffer() -> None:
    t, _ = _throttler(cc=1)
    t.set_endpoints([EP1])
    first = await t.acquire()
    second = asyncio.create_task(t.acquire())
    await asyncio.sleep(0)
    assert t.buffered == 1
    first.release()
    slot = await second
    assert slot.endpoint == EP1
    slot.release()
    assert t.trackers[0].in_flight == 0


async def test_acquire_cancelled_after_being_handed_a_slot_gives_it_back() -> None:
    t, _ = _throttler(cc=1)
    t.set_endpoints([EP1])
    held = t.try_acquire()
    assert held is not None
    waiting = asyncio.create_task(t.acquire())
    await asyncio.sleep(0)
    held.release()  # hands the slot to the waiter's future...
    waiting.cancel()  # ...whose task is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert t.trackers[0].in_flight == 0
    assert t.try_acquire() is not None


async def test_standard_mode_answers_503_at_once_without_a_ready_replica_and_never_pokes() -> None:
    t, pokes = _throttler(cc=0, direct=True)
    with pytest.raises(Unavailable) as err:
        await t.acquire()
    assert (err.value.reason, err.value.retry_after) == ("NoReadyReplica", 2)
    assert (t.buffered, pokes) == (0, [])
    t.set_endpoints([EP1])
    slots = [await t.acquire() for _ in range(3)]  # no containerConcurrency: straight through
    assert {s.tracker.endpoint for s in slots} == {EP1}
