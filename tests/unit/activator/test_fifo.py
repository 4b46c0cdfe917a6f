"""The buffer order the throttler and the simulator share: FIFO, no overtaking, dead skipped."""

from __future__ import annotations

from minikn.activator.fifo import Fifo


def _fifo(live: set[str]) -> Fifo[str]:
    return Fifo(lambda w: w in live)


def test_an_arrival_takes_a_free_slot_only_while_nobody_waits() -> None:
    live = {"a"}
    q = _fifo(live)
    assert q.admits(True)
    assert not q.admits(False)
    q.push("a")
    assert not q.admits(True)  # "a" waits ahead: no overtaking
    live.discard("a")  # it gave up
    assert q.admits(True)


def test_waiters_are_served_in_arrival_order_skipping_the_ones_that_gave_up() -> None:
    live = {"a", "b", "c"}
    q = _fifo(live)
    for w in ("a", "b", "c"):
        q.push(w)
    live.discard("b")
    assert [q.pop(), q.pop(), q.pop()] == ["a", "c", None]
    assert not q.waiting()


def test_a_retry_goes_ahead_of_later_arrivals() -> None:
    live = {"a", "retry"}
    q = _fifo(live)
    q.push("a")
    q.push("retry", front=True)
    assert q.pop() == "retry"


def test_drain_empties_the_buffer_live_or_not() -> None:
    live = {"a"}
    q = _fifo(live)
    q.push("a")
    q.push("gone")
    assert list(q.drain()) == ["a", "gone"]
    assert q.pop() is None
