"""The GPU allocator: exact ids, no sharing unless configured, release, discovery parsing."""

from __future__ import annotations

import pytest

from minikn.config.local import ReplicasConfig
from minikn.replicas.gpus import GpuAllocator, parse_nvidia_smi, pick_gpus


@pytest.mark.parametrize(
    ("free", "count", "expected"),
    [
        ({"g0": 1, "g1": 1}, 0, ()),
        ({"g0": 1, "g1": 1}, 1, ("g0",)),
        ({"g0": 0, "g1": 1}, 1, ("g1",)),
        ({"g0": 1, "g1": 1}, 2, ("g0", "g1")),
        ({"g0": 1, "g1": 0}, 2, None),
        ({}, 1, None),
        ({"g0": 1, "g1": 2}, 1, ("g1",)),  # least used first
        ({"g0": 2, "g1": 2, "g2": 1}, 2, ("g0", "g1")),
    ],
)
def test_pick_gpus_table(
    free: dict[str, int], count: int, expected: tuple[str, ...] | None
) -> None:
    assert pick_gpus(free, count) == expected


def test_two_replicas_never_share_a_gpu_by_default() -> None:
    alloc = GpuAllocator(["g0", "g1"])
    assert alloc.allocate("r1", 1) == ("g0",)
    assert alloc.allocate("r2", 1) == ("g1",)
    assert alloc.allocate("r3", 1) is None
    assert alloc.held("r3") == ()
    alloc.release("r1")
    assert alloc.allocate("r3", 1) == ("g0",)


def test_gpu_sharing_slots_spread_before_stacking() -> None:
    alloc = GpuAllocator(["g0", "g1"], sharing=2)
    got = [alloc.allocate(f"r{i}", 1) for i in range(5)]
    assert got == [("g0",), ("g1",), ("g0",), ("g1",), None]
    assert alloc.free_slots() == {"g0": 0, "g1": 0}


def test_adopted_reservation_counts_against_the_inventory() -> None:
    alloc = GpuAllocator(["g0", "g1"])
    alloc.reserve("adopted", ["g1"])
    assert alloc.allocate("new", 2) is None
    assert alloc.allocate("new", 1) == ("g0",)


def test_inventory_from_config_wins_over_discovery() -> None:
    alloc = GpuAllocator.from_config(
        ReplicasConfig.model_validate({"gpus": ["a", "b"], "gpuSharing": 3})
    )
    assert alloc.inventory == ("a", "b")
    assert alloc.sharing == 3


def test_nvidia_smi_output_is_parsed_in_index_order() -> None:
    out = "GPU-bbb, 1\nGPU-aaa, 0\n\ngarbage\n"
    assert parse_nvidia_smi(out) == ["GPU-aaa", "GPU-bbb"]
