"""The replica manager's decision: desired vs observed replicas -> actions (pure, no I/O).

Level-triggered: the same inputs give the same actions, so a pass can run any number of times.
Truth table per revision (``active`` = replicas not Stopping)::

    live  desired  active vs desired    backoff  -> actions
    no    -        any                  -        stop every active replica; Forget when none left
    yes   None     any                  -        keep (the autoscaler has not spoken yet)
    yes   n        active > n           -        stop the surplus, not-ready replicas first
    yes   n        active < n           yes      nothing (a crash or refusal is backing off)
    yes   n        active < n           no       create the missing ones, each with its GPUs;
                                                 WaitGPU when too few are free
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from minikn.replicas.gpus import pick_gpus

__all__ = [
    "Action",
    "Create",
    "Forget",
    "ObservedReplica",
    "RevisionView",
    "Stop",
    "WaitGPU",
    "plan",
]


@dataclass(frozen=True, slots=True)
class ObservedReplica:
    replica_id: str
    phase: Literal["Creating", "Ready", "Stopping"]
    created: float = 0.0
    """Monotonic seconds it was created (newest ready replicas are stopped first)."""


@dataclass(frozen=True, slots=True)
class RevisionView:
    revision: str
    live: bool
    desired: int | None
    gpus_per_replica: int = 0
    replicas: tuple[ObservedReplica, ...] = ()
    backoff_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Create:
    revision: str
    gpus: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stop:
    revision: str
    replica_id: str


@dataclass(frozen=True, slots=True)
class WaitGPU:
    revision: str
    needed: int
    free: int


@dataclass(frozen=True, slots=True)
class Forget:
    revision: str


Action = Create | Stop | WaitGPU | Forget


def _surplus(replicas: Sequence[ObservedReplica], count: int) -> list[ObservedReplica]:
    # Not-ready replicas go first (they serve nothing yet), then the newest ready ones.
    order = sorted(replicas, key=lambda r: (r.phase == "Ready", -r.created, r.replica_id))
    return order[:count]


def plan(
    views: Sequence[RevisionView], *, gpu_free_slots: Mapping[str, int], now: float
) -> list[Action]:
    """Actions that move ``views`` toward their desired replica counts."""
    free = dict(gpu_free_slots)
    actions: list[Action] = []
    for view in sorted(views, key=lambda v: v.revision):
        active = [r for r in view.replicas if r.phase != "Stopping"]
        if not view.live:
            actions.extend(Stop(view.revision, r.replica_id) for r in active)
            if not view.replicas:
                actions.append(Forget(view.revision))
            continue
        if view.desired is None:
            continue
        if len(active) > view.desired:
            surplus = _surplus(active, len(active) - view.desired)
            actions.extend(Stop(view.revision, r.replica_id) for r in surplus)
            continue
        if len(active) == view.desired or now < view.backoff_until:
            continue
        for _ in range(view.desired - len(active)):
            picked = pick_gpus(free, view.gpus_per_replica)
            if picked is None:
                usable = sum(1 for n in free.values() if n > 0)
                actions.append(WaitGPU(view.revision, view.gpus_per_replica, usable))
                break
            for gpu in picked:
                free[gpu] -= 1
            actions.append(Create(view.revision, picked))
    return actions
