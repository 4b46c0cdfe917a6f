"""Knative's load-balancing policies and the per-replica breaker (containerConcurrency)."""

from __future__ import annotations

import random
from collections import Counter

from minikn.activator.balance import Balancer, Tracker
from minikn.core.endpoints import Endpoint


def _trackers(*loads: int) -> list[Tracker]:
    out = []
    for i, load in enumerate(loads):
        t = Tracker(Endpoint(f"r{i}", "127.0.0.1", 9000 + i))
        t.in_flight = load
        out.append(t)
    return out


def test_unlimited_power_of_two_choices_never_picks_the_most_loaded_of_three() -> None:
    trackers = _trackers(0, 5, 9)
    balancer = Balancer(0, random.Random(3), max_connections=1024)
    picks = Counter(balancer.pick(trackers).endpoint.replica_id for _ in range(300))  # type: ignore[union-attr]
    assert picks["r2"] == 0  # the worst of any pair never wins
    assert picks["r0"] > picks["r1"] > 0


def test_small_limit_is_first_available() -> None:
    trackers = _trackers(2, 1, 0)
    balancer = Balancer(2, random.Random(), max_connections=1024)
    assert balancer.pick(trackers) is trackers[1]
    trackers[1].in_flight = 2
    assert balancer.pick(trackers) is trackers[2]
    trackers[2].in_flight = 2
    assert balancer.pick(trackers) is None


def test_large_limit_is_round_robin_over_replicas_with_room() -> None:
    trackers = _trackers(0, 10, 0)
    balancer = Balancer(10, random.Random(), max_connections=1024)
    picks = [balancer.pick(trackers) for _ in range(4)]
    assert picks == [trackers[0], trackers[2], trackers[0], trackers[2]]


def test_avoid_prefers_another_replica_but_falls_back() -> None:
    trackers = _trackers(0, 0)
    balancer = Balancer(1, random.Random(), max_connections=1024)
    assert balancer.pick(trackers, avoid=trackers[0]) is trackers[1]
    assert balancer.pick(trackers[:1], avoid=trackers[0]) is trackers[0]


def test_no_replica_no_pick() -> None:
    assert Balancer(0, random.Random(), max_connections=1024).pick([]) is None
    assert Balancer(5, random.Random(), max_connections=1024).pick([]) is None


def test_unlimited_concurrency_is_bounded_by_the_connection_limit() -> None:
    balancer = Balancer(0, random.Random(1), max_connections=3)
    assert balancer.capacity == 3
    trackers = _trackers(3, 3, 2)
    for _ in range(20):  # whichever pair is drawn, only the replica with room is picked
        assert balancer.pick(trackers) is trackers[2]
    trackers[2].in_flight = 3
    assert balancer.pick(trackers) is None
    assert balancer.pick(trackers[:1]) is None


def test_container_concurrency_above_the_connection_limit_is_capped_by_it() -> None:
    assert Balancer(10, random.Random(), max_connections=4).capacity == 4
    assert Balancer(2, random.Random(), max_connections=4).capacity == 2
    trackers = _trackers(4, 3)
    assert Balancer(10, random.Random(), max_connections=4).pick(trackers) is trackers[1]
